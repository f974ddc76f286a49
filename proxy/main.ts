// The edge proxy as a long-running process: TLS material, the HTTPS app, the HTTP redirect and the
// internal metrics listener; certificate reloads; graceful shutdown of all three.
import closeWithGrace from 'close-with-grace'
import { ConfigError } from '../common/env-config.js'
import { loggerOptions } from '../common/logger.js'
import { buildProxyApp, TLS_OPTIONS } from './app.js'
import { loadProxyConfig, type ProxyConfig } from './config.js'
import { buildMetricsServer, buildRedirectServer } from './servers.js'
import { keepCertificateCurrent, openCertificateSource } from './tls/certificate-source.js'
import { trustInstructions } from './tls/local-ca.js'
import type { Http2SecureServer, ServerHttp2Session } from 'node:http2'

let config: ProxyConfig
try {
  config = loadProxyConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`gatehouse proxy: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

const logger = loggerOptions('proxy', config.logLevel)
const certificates = await openCertificateSource(config.tls)
const app = await buildProxyApp(config, { tls: certificates.initial, logger })
const redirect = buildRedirectServer(config.publicHttpsPort ?? config.httpsPort, logger)
const metrics = buildMetricsServer(app.edgeMetrics.registry, logger)

keepCertificateCurrent(certificates, app.server as unknown as Http2SecureServer, TLS_OPTIONS, app.log)

// On Node 20 an HTTP/2 server only stops once every client session has ended, and Fastify closes them
// only with forceCloseConnections: an idle browser or keep-alive client would hold the shutdown until the
// grace period ran out. Sessions are told to finish (GOAWAY: in-flight streams complete, no new ones).
const sessions = new Set<ServerHttp2Session>()
app.server.on('session', (session: ServerHttp2Session) => {
  sessions.add(session)
  session.once('close', () => sessions.delete(session))
})

closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down: finishing in-flight requests')
  certificates.close()
  await Promise.all([redirect.close(), metrics.close()])
  const closing = app.close()
  for (const session of sessions) session.close()
  await closing
})

await app.listen({ host: config.host, port: config.httpsPort })
if (config.httpPort !== 0) await redirect.listen({ host: config.host, port: config.httpPort })
await metrics.listen({ host: config.metrics.host, port: config.metrics.port })

if (config.tls.kind === 'local-ca') {
  app.log.info({ created: certificates.notice === 'created' }, 'local certificate authority in use')
  if (certificates.notice === 'created') process.stderr.write(`\n${trustInstructions(`${config.tls.dir}/ca.crt`, config.publicHttpsPort ?? config.httpsPort)}\n\n`)
}
app.log.info({
  https: `https://localhost:${config.httpsPort}`,
  redirect: config.httpPort !== 0 ? `http://localhost:${config.httpPort}` : 'off',
  metrics: `http://${config.metrics.host}:${config.metrics.port}/metrics`,
  upstreams: config.upstreams.map((url) => url.origin),
  redis: config.redisUrl !== undefined,
}, 'gatehouse proxy ready')
