// Request budgets (@fastify/rate-limit): per tenant user once authenticated, per client address before;
// limits by the tenant's plan (stored with the tenant, learnt from the API through tenant-facts); IETF RateLimit-*
// headers, Retry-After and a problem+json 429.
// Shared through Redis when configured, with local counting while Redis is away (or 503, fail-closed).
// Registered inside the authenticated context, after edge-auth, so the key is known.
// @see https://github.com/fastify/fastify-rate-limit
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { ProxyConfig } from '../config.ts'
import { Errors } from '../../common/problem.ts'
import { redisStoreWithFallback } from '../stores/rate-limit-store.ts'

export type RateLimitOptions = ProxyConfig['rateLimit']

export function rateLimitKey(request: FastifyRequest): string {
  return request.principal !== null
    ? `user:${request.principal.tenant}:${request.principal.user}`
    : `addr:${request.ip}`
}

async function edgeRateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  // The plan stored with the tenant, as the API says (from memory: tenant-facts refreshes it in the background),
  // unless TENANT_PLANS overrides it; free for a tenant the API does not know or has never been reached about.
  // Read from memory synchronously on the hot path; only a tenant whose answer is not in memory waits, once.
  const limitFor = (request: FastifyRequest): number | Promise<number> => {
    if (request.principal === null) return options.anonymous
    const tenant = request.principal.tenant
    const override = options.tenantPlans.get(tenant)
    if (override !== undefined) return options.perPlan[override]
    const known = app.tenantFacts.planNow(tenant)
    if (known !== undefined) return options.perPlan[known ?? 'free']
    return app.tenantFacts.plan(tenant).then(
      plan => options.perPlan[plan ?? 'free'],
      () => options.perPlan.free,
    )
  }

  // Once per outage, not per request: the flag is cleared by one listener when Redis is back (a listener
  // added per failed count would pile up for as long as the outage lasts).
  let redisOutageLogged = false
  app.redis?.on('ready', () => {
    redisOutageLogged = false
  })
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    timeWindow: options.windowMs,
    // Typed as sync or async, but the plugin awaits either (`await params.max(req, key)`): a number or a promise.
    max: limitFor as (request: FastifyRequest) => number,
    keyGenerator: rateLimitKey,
    enableDraftSpec: true,
    skipOnError: false,
    ...(app.redis !== null
      ? {
          store: redisStoreWithFallback({
            redis: app.redis,
            failOpen: options.failOpen,
            nameSpace: 'gatehouse:rate-limit:',
            onRedisError: error => {
              app.edgeMetrics.redisErrors.inc()
              if (!redisOutageLogged) {
                app.log.warn({ error: error.message, failOpen: options.failOpen }, 'rate limit store unreachable')
              }
              redisOutageLogged = true
            },
          }) as never,
        }
      : {}),
    onExceeded: request => {
      app.edgeMetrics.rateLimited.inc({ tenant: request.principal?.tenant ?? 'anonymous' })
    },
    errorResponseBuilder: (_request, context) =>
      new Errors.RateLimited(`Rate limit of ${context.max} requests exceeded; retry in ${context.after}`),
  })
  // A request without valid credentials is answered 401 by edge-auth before any route hook runs: the
  // anonymous budget (per address) is applied there, so unauthenticated floods get 429 too.
  const anonymousBudget = app.rateLimit({ max: options.anonymous })
  app.edgeOnUnauthenticated(async (request, reply) => {
    await anonymousBudget.call(app, request, reply)
  })
}

export default fp(edgeRateLimit, {
  name: 'edge-rate-limit',
  fastify: '5.x',
  dependencies: ['edge-auth', 'redis', 'edge-metrics', 'tenant-facts'],
})
