// Forwarding to the API (@fastify/http-proxy over undici's keep-alive pool). The edge decides who the
// caller is; the API learns it only from the signed identity added here — whatever identity or
// forwarding headers the client sent are dropped first. A dead or slow API becomes 502/504 problem+json.
// @see https://github.com/fastify/fastify-http-proxy
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import httpProxy from '@fastify/http-proxy'
import type { IncomingHttpHeaders } from 'node:http'
import { constants as http2, type Http2ServerRequest } from 'node:http2'
import type { Readable } from 'node:stream'
import { signIdentity } from '../../common/identity-signature.js'
import type { ProxyConfig } from '../config.js'
import { EdgeErrors } from '../errors.js'
import { createUpstreamPool } from '../upstream/upstream-pool.js'
import { EDGE_SECURITY_HEADERS } from './security-headers.js'
import type { UpstreamTracing } from './tracing.js'

/** What @fastify/reply-from hands over when the API's response headers arrive. */
export interface UpstreamResponse { statusCode: number, headers: IncomingHttpHeaders, stream: NodeJS.ReadableStream }

export interface ForwardOptions {
  /** One API instance, or several to balance over (each checked at /ready, see upstream-pool.ts). */
  upstreams: URL[]
  timeouts: ProxyConfig['upstream']
  identitySecret: string
  bodyLimitBytes: number
  /** Runs when the upstream's response headers arrive; may replace how the body is sent (the cache does). */
  onUpstreamResponse?: (request: FastifyRequest, reply: FastifyReply, response: UpstreamResponse) => void
  /** Runs when forwarding failed, before the 502/504 is sent; returning true means it answered instead. */
  onUpstreamError?: (request: FastifyRequest, reply: FastifyReply, status: 502 | 504) => boolean
  /** Set only when tracing is configured: a client span around each call to the API. */
  tracing?: UpstreamTracing
}

// Never forwarded: credentials the edge consumed, identity only the edge may assert, and forwarding
// headers a client could forge (the edge sets its own).
// Hop-by-hop headers of the API's connection, never passed on to the client (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

/**
 * The API's response headers as the client gets them: the edge's own security policy stays in force,
 * and what the API tells the edge alone (x-gatehouse-*) stays at the edge.
 */
export function downstreamHeaders (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !EDGE_SECURITY_HEADERS.has(name) && !name.startsWith('x-gatehouse-')) kept[name] = value
  }
  return kept
}

const STRIPPED = /^(authorization|proxy-authorization|x-gatehouse-.*|x-forwarded-.*|forwarded|x-real-ip|x-request-id|traceparent|tracestate)$/i

export function upstreamHeaders (request: FastifyRequest, headers: IncomingHttpHeaders, secret: string): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) if (!STRIPPED.test(name)) kept[name] = value
  const principal = request.principal
  if (principal === null) throw new Error('forwarding a request that did not pass edge authentication')
  return {
    ...kept,
    'x-forwarded-for': request.ip,
    'x-forwarded-proto': 'https',
    'x-forwarded-host': request.host,
    traceparent: request.traceparent,
    ...(typeof request.headers.tracestate === 'string' ? { tracestate: request.headers.tracestate } : {}),
    ...signIdentity(secret, { tenant: principal.tenant, user: principal.user, requestId: request.id, method: request.method, url: request.url }),
  }
}

/**
 * Signs that an instance may have died — its connection refused, unanswered, or closed before any answer
 * came: its pool checks it now rather than at the next tick, and a GET or HEAD is tried on another one.
 */
const INSTANCE_LOST = ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET', 'UND_ERR_SOCKET']

function failureKind (error: unknown): { status: 502 | 504, kind: string } {
  const code = (error as { code?: string }).code ?? ''
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT' || code === 'ETIMEDOUT') {
    return { status: 504, kind: 'timeout' }
  }
  return { status: 502, kind: code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect' : 'other' }
}

export default async function forward (app: FastifyInstance, options: ForwardOptions): Promise<void> {
  const { upstreamDuration, upstreamErrors } = app.edgeMetrics
  const started = new WeakMap<FastifyRequest, bigint>()
  const seconds = (request: FastifyRequest): number => Number(process.hrtime.bigint() - (started.get(request) ?? process.hrtime.bigint())) / 1e9

  // Bodies are streamed to the API, so Fastify's own body limit never sees them: enforce it here,
  // by the declared length up front and by counting for chunked uploads.
  app.addHook('onRequest', async (request) => {
    const declared = Number(request.headers['content-length'] ?? 0)
    if (declared > options.bodyLimitBytes) {
      throw Object.assign(new Error(`Request body is larger than ${options.bodyLimitBytes} bytes`), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
    }
  })

  const balanced = options.upstreams.length > 1
    ? createUpstreamPool(options.upstreams, {
        ...options.timeouts,
        onState: (origin, inRotation) => {
          app.edgeMetrics.upstreamUp.set({ upstream: origin }, inRotation ? 1 : 0)
          if (!inRotation) app.log.warn({ upstream: origin }, 'API instance out of rotation: its /ready fails')
          else app.log.info({ upstream: origin }, 'API instance in rotation')
        },
      })
    : undefined
  if (balanced !== undefined) app.addHook('onClose', async () => balanced.close())

  // The idle body timeout never fires for an API that trickles its body forever, so the whole response must
  // also be in by UPSTREAM_TIMEOUT_MS after the request left (as Envoy's route timeout): then it is cut off
  // and the API connection released. A streamed answer ends incomplete; one the cache held becomes a 504.
  const cutOffAtDeadline = (request: FastifyRequest, reply: FastifyReply, body: Readable): void => {
    const timer = setTimeout(() => {
      upstreamErrors.inc({ kind: 'timeout' })
      request.log.warn({ deadlineMs: options.timeouts.timeoutMs }, 'the API response did not complete in time: cut off')
      // Mid-answer over HTTP/2, the reset must carry an error code: Fastify's own would say NO_ERROR, which a
      // client may take for the end of a complete response.
      if (reply.raw.headersSent && request.raw.httpVersionMajor === 2) (request.raw as unknown as Http2ServerRequest).stream.close(http2.NGHTTP2_INTERNAL_ERROR)
      body.destroy(new EdgeErrors.UpstreamTimeout())
    }, Math.max(0, options.timeouts.timeoutMs - seconds(request) * 1000))
    body.once('close', () => clearTimeout(timer))
  }

  await app.register(httpProxy, {
    upstream: options.upstreams[0]!.origin,
    prefix: '/',
    http2: false,
    undici: balanced?.dispatcher ?? {
      connections: options.timeouts.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: options.timeouts.timeoutMs,
      bodyTimeout: options.timeouts.timeoutMs,
      connect: { timeout: options.timeouts.connectTimeoutMs },
    },
    replyOptions: {
      // A GET or HEAD that got no answer from an instance (refused, unanswered connect, or the connection
      // lost before the response began, as when the instance is killed) is tried again: it is idempotent
      // and has no body. The pool may pick the lost instance again until the check this failure set off
      // has taken it out, so each try waits a little longer (25, 50, 100 ms…), one more try than there are
      // instances. Nothing else is retried — not a write, which the lost instance may have applied, and not
      // a 503 from a struggling API (reply-from's default would resend it up to ten times).
      retryDelay: ({ err, req, attempt }) => {
        const code = (err as { code?: string } | null)?.code ?? ''
        if (balanced === undefined || !INSTANCE_LOST.includes(code)) return null
        balanced.checkSoon()
        return attempt <= options.upstreams.length && ['GET', 'HEAD'].includes(req.method) ? 25 * 2 ** attempt : null
      },
      // The proxy app is HTTP/2 with HTTP/1.1 fallback; reply-from types requests as either, ours as one.
      // Called just before the request leaves, after every edge check: where upstream time starts.
      rewriteHeaders: (headers) => downstreamHeaders(headers),
      rewriteRequestHeaders: (request, headers) => {
        started.set(request as FastifyRequest, process.hrtime.bigint())
        if (options.tracing !== undefined) (request as FastifyRequest).traceparent = options.tracing.started(request as FastifyRequest)
        return upstreamHeaders(request as FastifyRequest, headers, options.identitySecret)
      },
      onResponse: (rawRequest, reply, response) => {
        const request = rawRequest as FastifyRequest
        cutOffAtDeadline(request, reply as FastifyReply, response.stream as Readable)
        upstreamDuration.observe({ status_class: `${Math.floor(response.statusCode / 100)}xx` }, seconds(request))
        options.tracing?.ended(request, response.statusCode)
        if (options.onUpstreamResponse !== undefined) options.onUpstreamResponse(request, reply as FastifyReply, response as unknown as UpstreamResponse)
        else reply.send(response.stream)
      },
      onError: (reply, { error }) => {
        const { status, kind } = failureKind(error)
        upstreamErrors.inc({ kind })
        options.tracing?.ended(reply.request as FastifyRequest, error)
        reply.request.log.warn({ err: error, kind }, 'forwarding to the API failed')
        if (options.onUpstreamError?.(reply.request as FastifyRequest, reply as FastifyReply, status) === true) return
        reply.send(status === 504 ? new EdgeErrors.UpstreamTimeout() : new EdgeErrors.UpstreamUnavailable())
      },
    },
  })
}
