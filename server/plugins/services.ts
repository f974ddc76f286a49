// The use cases REST and GraphQL share, built once per app over its database client.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createDomainService } from '../services/domains.ts'
import { createProjectService } from '../services/projects.ts'
import { createTaskService } from '../services/tasks.ts'

function createServices(app: FastifyInstance) {
  return {
    projects: createProjectService(app.db),
    tasks: createTaskService(app.db),
    domains: createDomainService(app.db),
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    services: ReturnType<typeof createServices>
  }
}

async function services(app: FastifyInstance): Promise<void> {
  app.decorate('services', createServices(app))
}

export default fp(services, { name: 'services', fastify: '5.x', dependencies: ['database'] })
