// The edge proxy as one Fastify app: HTTPS with HTTP/2 (and HTTP/1.1 by ALPN), built from its config and
// TLS material. It never listens: proxy/main.ts adds the listeners (HTTPS, the HTTP redirect, metrics).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import Fastify from 'fastify'
import type { FastifyHttp2SecureOptions, FastifyServerOptions } from 'fastify'
import type { Http2SecureServer } from 'node:http2'
import type { Socket } from 'node:net'
import type { ProxyConfig } from './config.ts'
import type { TlsMaterial } from './tls/local-ca.ts'
import { closeChallengeConnections, type SniSelection } from './tls/acme/sni.ts'
import { TLS_OPTIONS } from './tls/tls-options.ts'
import edgeMetrics from './plugins/edge-metrics.ts'
import http2RequestDeadline from './plugins/http2-request-deadline.ts'
import problemDetails from './plugins/problem-details.ts'
import redis from './plugins/redis.ts'
import requestContext, { requestIdFrom } from './plugins/request-context.ts'
import securityHeaders, { rawClientErrorResponse } from './plugins/security-headers.ts'
import tenantFacts from './plugins/tenant-facts.ts'
import edgeTracing from './plugins/tracing.ts'
import healthRoutes from './routes/health.ts'
import { edgeRequestPath } from './request-path.ts'
import { PROBLEMS, problemOf, sendProblem, statusOf } from '../common/problem.ts'
import { applyServerTimeouts } from '../common/server-timeouts.ts'
import type { Clock } from '../common/clock.ts'

/** As Node's HTTP/1.1 parser allows (its default maxHeaderSize). */
export const MAX_HEADER_BYTES = 16 * 1024

export interface BuildProxyOptions {
  tls: TlsMaterial
  logger?: FastifyServerOptions['logger']
  /** With ACME: the certificate chosen per SNI name (and TLS-ALPN-01's by ALPN); `tls` is the default one. */
  sni?: SniSelection
  /** The clock the response cache ages entries on: the system's, unless a test passes one it moves. */
  clock?: Clock
}

export async function buildProxyApp(config: ProxyConfig, options: BuildProxyOptions): Promise<FastifyInstance> {
  const serverOptions: FastifyHttp2SecureOptions<Http2SecureServer> = {
    http2: true,
    // A TLS handshake is bounded like the request headers that follow it.
    https: {
      allowHTTP1: true,
      ...TLS_OPTIONS,
      key: options.tls.key,
      cert: options.tls.cert,
      handshakeTimeout: config.clientTimeouts.headersMs,
      // Streams past the limit are refused (REFUSED_STREAM); a session sending many such, or many frames
      // nghttp2 finds invalid, is hostile and dropped (Node's defaults: 100 and 1000).
      settings: { maxConcurrentStreams: config.http2MaxConcurrentStreams },
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 100,
      ...options.sni,
    },
    logger: (options.logger ?? false) as FastifyHttp2SecureOptions<Http2SecureServer>['logger'],
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: request => requestIdFrom(request.headers as Record<string, string | undefined>),
    // Slow clients may not hold sockets open (the header, request and keep-alive deadlines are set on the
    // server below): a socket without any progress — e.g. a client that stopped reading its response — is
    // closed after the whole-request deadline, an idle HTTP/2 session after the keep-alive one.
    connectionTimeout: config.clientTimeouts.requestMs,
    // Idle HTTP/2 sessions (no open stream) are closed at KEEP_ALIVE_TIMEOUT_MS by common/http2-session-deadlines.ts;
    // Node's session timeout counts frames, not streams, so it is only the backstop for a session silent for
    // longer than any request may last.
    http2SessionTimeout:
      config.clientTimeouts.keepAliveMs + config.clientTimeouts.requestMs + config.upstream.timeoutMs,
    clientErrorHandler: (error, socket) => {
      // What Node's HTTP/1.1 parser refused, or a request that missed its deadline, is answered. Anything else
      // (a TLS handshake that failed or timed out: there is no HTTP to answer, and an answer written to it
      // would wait for a handshake that never comes, holding the socket) just closes the connection.
      const code = (error as { code?: string }).code ?? ''
      if (socket.writable && (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT')) {
        socket.end(rawClientErrorResponse(error))
      } else socket.destroy()
    },
    frameworkErrors: (error, request, reply) => {
      const status = statusOf(error)
      sendProblem(
        request as unknown as FastifyRequest,
        reply as unknown as FastifyReply,
        problemOf(error.code, status),
        status >= 500 ? undefined : error.message,
      )
    },
  }
  // Typed as a plain FastifyInstance: plugins shared with HTTP/1 code need not know it is HTTP/2.
  const app = Fastify(serverOptions) as unknown as FastifyInstance
  const server = app.server as unknown as Http2SecureServer
  applyServerTimeouts(server, config.clientTimeouts)
  if (options.sni !== undefined) closeChallengeConnections(server)
  // Plain HTTP sent to the HTTPS port fails the handshake (OpenSSL knows it for HTTP); the TCP socket under the
  // failed TLS one still carries a plain answer saying what to do, as Caddy and Go answer, not an empty reply.
  server.on('tlsClientError', (error: Error & { code?: string }, tlsSocket) => {
    const raw = (tlsSocket as unknown as { _parent?: Socket })._parent
    if (error.code === 'ERR_SSL_HTTP_REQUEST' && raw?.writable === true) raw.end(rawClientErrorResponse(error))
  })

  await app.register(problemDetails)
  await app.register(http2RequestDeadline, { requestTimeoutMs: config.clientTimeouts.requestMs })
  // Node's HTTP/1.1 parser refuses more than 16 KiB of headers (431); its HTTP/2 server has no such cap, so a
  // 100 kB header would reach the API. The same limit, for both protocols, before anything reads the headers.
  // Hooks on the request path take callbacks, not promises: an async hook costs its promise and a microtask turn.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.raw.httpVersionMajor !== 2) return done()
    const size = request.raw.rawHeaders.reduce((total, part) => total + part.length, 0)
    if (size <= MAX_HEADER_BYTES) return done()
    sendProblem(request, reply, PROBLEMS.HeadersTooLarge, `Request headers may take ${MAX_HEADER_BYTES} bytes at most`)
  })
  await app.register(edgeMetrics)
  await app.register(redis, { url: config.redisUrl })
  await app.register(requestContext)
  await app.register(tenantFacts, {
    upstreams: config.upstreams,
    identitySecret: config.identitySecret,
    settings: config.tenantFacts,
  })
  // Tracing only when an OTLP endpoint is configured: otherwise no hook is added and the OpenTelemetry SDK
  // is never imported (startTracing imports it); request-context still forwards a traceparent as before.
  const { otlpEndpoint, serviceName } = config.tracing
  if (otlpEndpoint !== undefined) await app.register(edgeTracing, { otlpEndpoint, serviceName })
  await app.register(securityHeaders)
  await app.register(healthRoutes, {
    upstreams: config.upstreams,
    timeoutMs: Math.min(config.upstream.timeoutMs, 2000),
  })

  // Everything else needs a login, counts against a budget, may come from the cache, and goes upstream.
  await app.register(async edgeApp => edgeRequestPath(edgeApp, config, options.clock))
  return app
}
