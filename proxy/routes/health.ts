// The proxy's own liveness and readiness, answered at the edge without credentials.
import type { FastifyInstance } from 'fastify'
import { request as undiciRequest } from 'undici'
import { sendProblem } from '../../common/problem.js'

export interface HealthOptions { upstream: URL, timeoutMs: number }

export default async function healthRoutes (app: FastifyInstance, options: HealthOptions): Promise<void> {
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))

  // Ready when the API it forwards to is ready: a proxy in front of nothing should leave the load balancer.
  app.get('/ready', { config: { rateLimit: false } }, async (request, reply) => {
    try {
      const response = await undiciRequest(new URL('/ready', options.upstream), { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs })
      await response.body.dump()
      if (response.statusCode === 200) return { status: 'ok', upstream: 'ready' }
      reply.header('retry-after', '5')
      return sendProblem(request, reply, { status: 503, code: 'GH_UPSTREAM_NOT_READY', slug: 'upstream-not-ready', title: 'Not ready', detail: `The API answered ${response.statusCode} to its readiness check` })
    } catch (error) {
      request.log.warn({ err: error }, 'readiness: API unreachable')
      reply.header('retry-after', '5')
      return sendProblem(request, reply, { status: 503, code: 'GH_UPSTREAM_NOT_READY', slug: 'upstream-not-ready', title: 'Not ready', detail: 'The API is unreachable' })
    }
  })
}
