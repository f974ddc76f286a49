// OpenAPI document generated from the route schemas, with Swagger UI at /docs (assets served locally).
// @see https://github.com/fastify/fastify-swagger
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ProblemSchema } from '../schemas/problem.js'

async function openapi (app: FastifyInstance): Promise<void> {
  app.addSchema(ProblemSchema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse API',
        version: '1.0.0',
        description: 'Multi-tenant projects and tasks. Reached through the Gatehouse edge proxy, which authenticates ' +
          'the caller (HTTP basic, `user@tenant`) and vouches for them with signed headers. Errors are RFC 9457 problem details.',
      },
      tags: [
        { name: 'projects', description: 'Projects of the calling tenant' },
        { name: 'tasks', description: 'Tasks within projects' },
        { name: 'domains', description: "The calling tenant's own hostnames" },
        { name: 'operations', description: 'Health and readiness' },
      ],
    },
    // Collection routes are registered as '/' under their prefix; the documented URL has no trailing slash.
    transform: ({ schema, url }) => ({ schema, url: url.length > 1 ? url.replace(/\/$/, '') : url }),
    // Shared schemas keep their $id as the component name (Problem, Project, Task) instead of def-0, def-1, …
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x' })
