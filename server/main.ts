// The API as a plain long-running server: config, logger, timeouts, graceful shutdown, listen.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../common/logger.ts'
import { applyServerTimeouts } from '../common/server-timeouts.ts'
import { lingerIdleConnections } from '../common/idle-connection-linger.ts'
import { buildApp } from './app.ts'
import { ConfigError } from '../common/env-config.ts'
import { loadServerConfig, type ServerConfig } from './config.ts'

let config: ServerConfig
try {
  config = loadServerConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`gatehouse api: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

let app: FastifyInstance | undefined
try {
  app = await buildApp(config, { logger: loggerOptions('api', config.logLevel) })
} catch (error) {
  // Opening the database failed (e.g. the embedded one is held by another process): say why, without a stack.
  process.stderr.write(`gatehouse api: cannot start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
const server = app

// Bound how long a slow or idle client may hold a socket (header, whole-request and keep-alive deadlines).
applyServerTimeouts(server.server, config.timeouts)

const IDLE_LINGER_MS = 1000

// Shutdown, in three steps, so that no client request fails:
// 1. Draining (SHUTDOWN_DRAIN_DELAY_MS): the app is told it is shutting down, so /ready answers 503 and
//    balancers (the edge checks it) take this instance out of rotation, and every response closes its
//    connection so keep-alive clients reconnect elsewhere (app.ts). Everything is still served and the
//    listener stays open: a request routed here before the balancer noticed is served, not refused —
//    refusing would fail a POST, which must not be resent.
// 2. Closing: no new connections; idle ones are closed after a moment (below); requests in flight finish,
//    and one that still arrives on an open connection is served with Connection: close (return503OnClosing
//    is off in app.ts).
// 3. The database closes once the last response is out, then the process exits 0. The grace period
//    (SHUTDOWN_GRACE_MS, drain included) bounds it all: past it the process exits 1.
// Idle keep-alive connections linger a moment before close() cuts them: see common/idle-connection-linger.ts.
lingerIdleConnections(server.server, IDLE_LINGER_MS)

closeWithGrace(
  {
    delay: config.shutdownGraceMs,
    // Its own messages (a second signal, the grace period running out) go to the same JSON log as ours.
    logger: {
      error: (message: unknown) => {
        if (typeof message === 'string') server.log.error(message)
        else server.log.error({ err: message }, 'shutting down failed')
      },
    },
  },
  async ({ signal, err }) => {
    if (err !== undefined) {
      // Something is broken: no drain, close at once.
      server.log.error({ err }, 'shutting down after an unexpected error')
      await server.close()
      return
    }
    server.lifecycle.shuttingDown = true
    server.log.info({ signal, drainMs: config.shutdownDrainDelayMs }, 'shutting down: finishing in-flight requests')
    if (config.shutdownDrainDelayMs > 0) {
      await new Promise(resolve => setTimeout(resolve, config.shutdownDrainDelayMs))
      server.log.info('drained: closing the listener')
    }
    await server.close()
  },
)

try {
  await server.listen({ host: config.host, port: config.port })
} catch (error) {
  server.log.fatal({ err: error }, `cannot listen on ${config.host}:${config.port}`)
  await server.close()
  process.exit(1)
}
server.log.info({ database: server.database.kind }, 'gatehouse api ready')
