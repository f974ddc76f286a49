// The API as a plain long-running server: config, logger, timeouts, graceful shutdown, listen.
import closeWithGrace from 'close-with-grace'
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

const app = await buildApp(config, { logger: loggerOptions('api', config.logLevel) })

// Bound how long a slow or idle client may hold a socket. Keep-alive outlives the proxy's pooled
// connections (it closes them first), so the proxy never reuses a socket this side just closed.
app.server.headersTimeout = 10_000
app.server.requestTimeout = 30_000
app.server.keepAliveTimeout = 72_000

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down: finishing in-flight requests')
  await app.close()
})

await app.listen({ host: config.host, port: config.port })
app.log.info({ database: app.database.kind }, 'gatehouse api ready')
