// The proxy's Prometheus metrics: fastify-metrics for routes and the process, plus the edge's own
// counters. Served only by the internal metrics server (proxy/servers.ts), never the public port.
// @see https://github.com/SkeLLLa/fastify-metrics
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import metricsPlugin from 'fastify-metrics'
import promClient from 'prom-client'

export function createEdgeMetrics(registry = new promClient.Registry()) {
  const registers = [registry]
  return {
    registry,
    cacheLookups: new promClient.Counter({
      name: 'gatehouse_proxy_cache_lookups_total',
      help: 'Response cache outcomes',
      labelNames: ['outcome'] as const,
      registers,
    }),
    cacheEntries: new promClient.Gauge({
      name: 'gatehouse_proxy_cache_entries',
      help: 'Entries in the in-memory response cache',
      registers,
    }),
    rateLimited: new promClient.Counter({
      name: 'gatehouse_proxy_rate_limited_total',
      help: 'Requests refused with 429 by the rate limiter',
      labelNames: ['tenant'] as const,
      registers,
    }),
    tenantRequests: new promClient.Counter({
      name: 'gatehouse_proxy_tenant_requests_total',
      help: 'Authenticated requests by tenant and status class (tenants come from the credentials file, so the label is bounded)',
      labelNames: ['tenant', 'status_class'] as const,
      registers,
    }),
    authFailures: new promClient.Counter({
      name: 'gatehouse_proxy_auth_failures_total',
      help: 'Failed logins',
      labelNames: ['tenant'] as const,
      registers,
    }),
    authThrottled: new promClient.Counter({
      name: 'gatehouse_proxy_auth_throttled_total',
      help: 'Logins refused with 429 because their address or their login failed too often, by throttle',
      labelNames: ['throttle'] as const,
      registers,
    }),
    upstreamDuration: new promClient.Histogram({
      name: 'gatehouse_proxy_upstream_duration_seconds',
      help: 'Time from forwarding a request to the API until its response headers arrive',
      labelNames: ['status_class'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    upstreamErrors: new promClient.Counter({
      name: 'gatehouse_proxy_upstream_errors_total',
      help: 'Forwarding failures by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    clientFaults: new promClient.Counter({
      name: 'gatehouse_proxy_client_faults_total',
      help: 'Requests the client broke off or framed wrongly (not failures of the edge or the API), by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    // With several workers (PROXY_WORKERS) the primary sums their series; these two take the worst worker
    // instead, so "down" shows (and alerts) as soon as one worker sees it, and "up" stays 1, not N.
    upstreamUp: new promClient.Gauge({
      name: 'gatehouse_proxy_upstream_up',
      help: '1 while an API instance is in rotation (its /ready answers)',
      labelNames: ['upstream'] as const,
      aggregator: 'min',
      registers,
    }),
    redisUp: new promClient.Gauge({
      name: 'gatehouse_proxy_redis_up',
      help: '1 while the shared store (Redis) is reachable',
      aggregator: 'min',
      registers,
    }),
    redisErrors: new promClient.Counter({
      name: 'gatehouse_proxy_redis_errors_total',
      help: 'Redis connection and command errors',
      registers,
    }),
    requestsByProtocol: new promClient.Counter({
      name: 'gatehouse_proxy_requests_total',
      help: 'Requests by HTTP and TLS version',
      labelNames: ['http_version', 'tls_version'] as const,
      registers,
    }),
  }
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>

declare module 'fastify' {
  interface FastifyInstance {
    edgeMetrics: EdgeMetrics
  }
}

async function edgeMetrics(app: FastifyInstance): Promise<void> {
  const metrics = createEdgeMetrics()
  await app.register(metricsPlugin.default, {
    promClient,
    endpoint: null,
    defaultMetrics: { enabled: true, register: metrics.registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      // Everything is proxied by one wildcard route; label by what the request asked for, cut to its
      // resource family so ids do not explode the series count.
      overrides: {
        histogram: {
          registers: [metrics.registry],
          buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        },
        summary: { registers: [] },
        labels: { getRouteLabel: request => routeFamily(request.url) },
      },
    },
  })
  app.addHook('onRequest', (request, _reply, done) => {
    const socket = request.raw.socket as { getProtocol?: () => string | null }
    metrics.requestsByProtocol.inc({
      http_version: request.raw.httpVersion,
      tls_version: socket.getProtocol?.() ?? 'none',
    })
    done()
  })
  app.decorate('edgeMetrics', metrics)
}

const UUID_SEGMENT = /\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\/|$)/gi

/** `/api/v1/projects/<uuid>/tasks?x` → `/api/v1/projects/:id/tasks`; anything else unexpected → a fixed label. */
export function routeFamily(url: string): string {
  const path = url.split('?')[0]!.replace(UUID_SEGMENT, '/:id')
  if (/^\/api\/v1\/(projects|tasks)(\/:id)?(\/tasks)?\/?$/.test(path)) return path.replace(/\/$/, '')
  if (['/graphql', '/graphiql', '/health', '/ready', '/docs'].includes(path)) return path
  if (path.startsWith('/graphiql/') || path.startsWith('/docs/')) return path.split('/').slice(0, 2).join('/') + '/*'
  return 'other'
}

export default fp(edgeMetrics, { name: 'edge-metrics', fastify: '5.x' })
