// The proxy's two small side servers: plain HTTP that only redirects to HTTPS (health checks answered
// in place, so a load balancer may probe without TLS), and the internal metrics endpoint, on its own
// address and port so the public port never serves it.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'

export function buildRedirectServer (httpsPort: number, logger: boolean | object = false): FastifyInstance {
  const app = Fastify({ logger, connectionTimeout: 10_000 })
  app.get('/health', async () => ({ status: 'ok' }))
  app.all('/*', async (request, reply) => {
    const host = (request.headers.host ?? 'localhost').replace(/:\d+$/, '')
    const safeHost = /^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$/.test(host) ? host : 'localhost'
    const port = httpsPort === 443 ? '' : `:${httpsPort}`
    // 308 keeps the method and body, unlike 301.
    return reply.code(308).header('location', `https://${safeHost}${port}${request.url}`).send()
  })
  return app
}

/** A prom-client Registry, or anything else that renders the exposition format (the cluster's sum). */
export type MetricsSource = Pick<Registry, 'contentType' | 'metrics'>

export function buildMetricsServer (registry: MetricsSource, logger: boolean | object = false): FastifyInstance {
  const app = Fastify({ logger })
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  return app
}
