// The proxy's own liveness and readiness, answered at the edge without credentials.
import type { FastifyInstance } from 'fastify'
import { request as undiciRequest } from 'undici'
import { PROBLEMS, sendProblem } from '../../common/problem.ts'

export interface HealthOptions {
  upstreams: URL[]
  timeoutMs: number
}

/** 'ready', or why not: the status it answered, or that it could not be reached. */
async function readiness(upstream: URL, timeoutMs: number): Promise<'ready' | string> {
  try {
    const response = await undiciRequest(new URL('/ready', upstream), {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    await response.body.dump()
    return response.statusCode === 200 ? 'ready' : `answered ${response.statusCode}`
  } catch (error) {
    return `unreachable (${(error as Error).message})`
  }
}

export default async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))

  // Ready when an API instance it forwards to is ready: a proxy in front of nothing should leave the load balancer.
  app.get('/ready', { config: { rateLimit: false } }, async (request, reply) => {
    const states = await Promise.all(options.upstreams.map(upstream => readiness(upstream, options.timeoutMs)))
    const ready = states.filter(state => state === 'ready').length
    if (ready > 0) return { status: 'ok', upstream: 'ready', upstreamsReady: ready, upstreams: states.length }
    request.log.warn(
      { upstreams: options.upstreams.map((upstream, index) => ({ upstream: upstream.origin, state: states[index] })) },
      'readiness: no API instance ready',
    )
    const detail = states.every(state => state.startsWith('unreachable'))
      ? 'The API is unreachable'
      : `The API ${states.find(state => !state.startsWith('unreachable'))} to its readiness check`
    return sendProblem(request, reply, PROBLEMS.UpstreamNotReady, detail)
  })
}
