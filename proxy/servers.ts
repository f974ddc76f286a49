// The proxy's two small side servers: plain HTTP that only redirects to HTTPS (health checks answered
// in place, so a load balancer may probe without TLS), and the internal metrics endpoint, on its own
// address and port so the public port never serves it. And the connection cap every listener has.
import type { Server as NetServer, Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { applyServerTimeouts, type ServerTimeouts } from '../common/server-timeouts.ts'

/** What a side server is built with: the client deadlines every listener of ours has, and its log settings. */
export interface SideServerOptions {
  timeouts: ServerTimeouts
  logger?: boolean | object
}

/** One scraper or a few use the metrics port: MAX_CONNECTIONS is for the public ones. */
export const METRICS_MAX_CONNECTIONS = 64

/**
 * At most `max` open connections on `server`; one more is closed as soon as it is accepted. Not Node's own
 * server.maxConnections: in a cluster worker whose primary hands it connections (PROXY_PORT_SHARING=primary), a
 * connection it refuses goes back to the primary, which hands it to the next worker, round and round for as long
 * as every worker is full.
 */
export function capConnections(server: NetServer, max: number): void {
  let open = 0
  server.on('connection', (socket: Socket) => {
    if (open >= max) {
      socket.destroy()
      return
    }
    open++
    socket.once('close', () => {
      open--
    })
  })
}

// Every listener has the client deadlines, not only HTTPS: on Node's defaults (60 s for headers, looked at every
// 30 s) a side port would be the one a slowloris picks.
function sideServer(options: SideServerOptions, maxConnections: number): FastifyInstance {
  // connectionTimeout: a socket without any progress at all goes after the whole-request deadline, as on HTTPS.
  const app = Fastify({ logger: options.logger ?? false, connectionTimeout: options.timeouts.requestMs })
  applyServerTimeouts(app.server, options.timeouts)
  capConnections(app.server, maxConnections)
  return app
}

type RedirectServerOptions = SideServerOptions & {
  maxConnections: number
  /** With ACME: the HTTP-01 key authorization for a token, answered before anything is redirected. */
  acmeHttpAnswer?: (token: string) => Promise<string | undefined>
}

const ACME_CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([^/?#]+)$/

export function buildRedirectServer(httpsPort: number, options: RedirectServerOptions): FastifyInstance {
  const app = sideServer(options, options.maxConnections)
  app.get('/health', async () => ({ status: 'ok' }))
  const { acmeHttpAnswer } = options
  if (acmeHttpAnswer !== undefined) {
    // A token nobody is answering goes on to the redirect like any other path, as Caddy does.
    app.addHook('onRequest', async (request, reply) => {
      const token = request.method === 'GET' ? ACME_CHALLENGE_PATH.exec(request.url)?.[1] : undefined
      const answer = token === undefined ? undefined : await acmeHttpAnswer(token)
      if (answer !== undefined) return reply.type('text/plain').send(answer)
    })
  }
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

export function buildMetricsServer(registry: MetricsSource, options: SideServerOptions): FastifyInstance {
  const app = sideServer(options, METRICS_MAX_CONNECTIONS)
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  )
  return app
}
