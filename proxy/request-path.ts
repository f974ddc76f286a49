// What happens to a request the edge forwards, in the order it happens. Every stage is a plugin of its own; this
// file only puts them in order, so the request's path reads top to bottom here:
//
//   1. authenticate  a basic-auth login (user@tenant) becomes request.principal      plugins/edge-auth.ts
//   2. own domain    a tenant's own domain admits only that tenant's logins           plugins/tenant-domain.ts
//   3. path policy   only the API's public surface; `..` and encoded separators: no   (below)
//   4. limit         the budget of the tenant's plan, per user; RateLimit-* headers   plugins/edge-rate-limit.ts
//   5. cache         a fresh entry answers here (preHandler); misses collapse         plugins/response-cache.ts
//   6. forward       to an upstream: signed identity, per-user share, deadlines       plugins/forward.ts
//   7. and back      the answer goes through the cache (stored, Cache-Status), then   plugins/response-cache.ts
//                    is coded for the client if the cache did not code it (onSend)    plugins/response-compression.ts
//
// What runs before this for every request, health checks included (request ids, metrics, security headers,
// header limits), is in app.ts.
import type { FastifyInstance } from 'fastify'
import type { ProxyConfig } from './config.ts'
import edgeAuth from './plugins/edge-auth.ts'
import edgeRateLimit from './plugins/edge-rate-limit.ts'
import forward from './plugins/forward.ts'
import responseCache from './plugins/response-cache.ts'
import responseCompression from './plugins/response-compression.ts'
import tenantDomain from './plugins/tenant-domain.ts'
import { PROBLEMS, sendProblem, sendRouteNotFound } from '../common/problem.ts'
import type { Clock } from '../common/clock.ts'

/** What the edge forwards: the API's public surface, nothing else (not its /metrics, not /ready). */
export const FORWARDED_PATHS = /^\/(api\/v1(\/|\?|$)|graphql(\?|$)|graphiql(\/|\?|$)|docs(\/|\?|$))/

/** Paths that could mean something else upstream than they do here: refused, not normalised. */
const SUSPICIOUS_PATH = /(^|\/)\.{1,2}(\/|$)|%2e|%2f|%5c|\\/i

/** Everything but the edge's own routes: needs a login, counts against a budget, may come from the cache. */
export async function edgeRequestPath(edgeApp: FastifyInstance, config: ProxyConfig, clock?: Clock): Promise<void> {
  await edgeApp.register(edgeAuth, config.auth)
  edgeApp.addHook('onRequest', edgeApp.edgeAuthenticate)
  await edgeApp.register(tenantDomain, { ownNames: config.hostnames })
  edgeApp.addHook('onResponse', (request, reply, done) => {
    if (request.principal !== null) {
      edgeApp.edgeMetrics.tenantRequests.inc({
        tenant: request.principal.tenant,
        status_class: `${Math.floor(reply.statusCode / 100)}xx`,
      })
    }
    done()
  })
  edgeApp.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0]!
    if (SUSPICIOUS_PATH.test(path)) {
      sendProblem(request, reply, PROBLEMS.BadPath)
      return
    }
    if (!FORWARDED_PATHS.test(request.url)) {
      sendRouteNotFound(request, reply)
      return
    }
    done()
  })
  await edgeApp.register(edgeRateLimit, config.rateLimit)
  if (config.compression.enabled) await edgeApp.register(responseCompression, config.compression)
  await edgeApp.register(responseCache, { ...config.cache, compression: config.compression, clock })
  await edgeApp.register(forward, {
    upstreams: config.upstreams,
    timeouts: config.upstream,
    identitySecret: config.identitySecret,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyBufferMaxBytes: config.bodyBufferMaxBytes,
    userMaxInFlight: config.userMaxInFlight,
    onUpstreamResponse: edgeApp.responseCache.onUpstreamResponse,
    onUpstreamError: edgeApp.responseCache.onUpstreamError,
    ...(config.tracing.otlpEndpoint !== undefined ? { tracing: edgeApp.edgeTracing } : {}),
  })
}
