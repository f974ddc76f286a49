// /api/v1: every route here needs a verified identity and runs in that identity's tenant.
import type { FastifyInstance } from 'fastify'
import { requestValidatorCompiler } from '../../../schemas/validate.ts'
import domainRoutes from './domains.ts'
import projectRoutes from './projects.ts'
import taskRoutes from './tasks.ts'

export interface ApiV1Options {
  cacheSMaxAgeSeconds: number
}

export default async function apiV1(app: FastifyInstance, options: ApiV1Options): Promise<void> {
  app.addHook('onRequest', app.authenticate)
  // TypeBox, not Fastify's Ajv, validates requests here: Ajv's coerceTypes would turn {"name": true} into "true"
  // and ["a"] into "a" in bodies. This one converts only numbers written in query strings and params, and
  // reports every problem, as GraphQL does with the same schemas.
  app.setValidatorCompiler(requestValidatorCompiler)

  // Reads may be kept briefly by a shared cache (the edge proxy keys them by tenant); writes and errors never.
  const readCacheControl = `max-age=0, s-maxage=${options.cacheSMaxAgeSeconds}, stale-if-error=60`
  // A 304 (set by @fastify/etag, whose hook runs first) must repeat the 200's Cache-Control and Vary: a cache
  // applies them to the entry it revalidated (RFC 9111 §4.3.4), so no-store there would evict a good entry.
  app.addHook('onSend', async (request, reply) => {
    const cacheableRead =
      (request.method === 'GET' || request.method === 'HEAD') && (reply.statusCode === 200 || reply.statusCode === 304)
    reply.header('cache-control', cacheableRead ? readCacheControl : 'no-store')
    if (cacheableRead) reply.header('vary', 'x-gatehouse-tenant')
  })

  await app.register(projectRoutes, { prefix: '/projects' })
  await app.register(taskRoutes, { prefix: '/tasks' })
  await app.register(domainRoutes, { prefix: '/domains' })
}
