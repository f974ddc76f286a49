// The API as a plain long-running server: config, logger, timeouts, graceful shutdown, listen.
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../common/logger.js'
import { buildApp } from './app.js'
import { ConfigError } from '../common/env-config.js'
import { loadServerConfig, type ServerConfig } from './config.js'

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

// Bound how long a slow or idle client may hold a socket. Keep-alive outlives the proxy's pooled
// connections (it closes them first), so the proxy never reuses a socket this side just closed.
server.server.headersTimeout = 10_000
server.server.requestTimeout = 30_000
server.server.keepAliveTimeout = 72_000

closeWithGrace({
  delay: config.shutdownGraceMs,
  // Its own messages (a second signal, the grace period running out) go to the same JSON log as ours.
  logger: { error: (message: unknown) => { if (typeof message === 'string') server.log.error(message); else server.log.error({ err: message }, 'shutdown failed') } },
}, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'shutting down after an unexpected error')
  else server.log.info({ signal }, 'shutting down: finishing in-flight requests')
  await server.close()
})

try {
  await server.listen({ host: config.host, port: config.port })
} catch (error) {
  server.log.fatal({ err: error }, `cannot listen on ${config.host}:${config.port}`)
  await server.close()
  process.exit(1)
}
server.log.info({ database: server.database.kind }, 'gatehouse api ready')
