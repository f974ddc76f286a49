// Forwarding to the API over undici's keep-alive pool (one instance: a Pool; several: the balanced rotation).
// A request reaches here whole (its body buffered, forwarding/request-body.ts), authenticated and within its
// budgets; it leaves with the signed identity (forwarding/upstream-headers.ts) and, past its user's share of
// the pool, not at all (429). Who failed is told apart: a client that went away is one info line; a dead,
// slow or still-starting API is 502, 504 or 503 problem+json, logged without a stack.
// @see https://undici.nodejs.org/#/docs/api/Dispatcher?id=dispatcherrequestoptions-callback
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import { constants as http2, type Http2ServerRequest } from 'node:http2'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool, type Dispatcher } from 'undici'
import type { ProxyConfig } from '../config.ts'
import { Errors as EdgeErrors } from '../../common/problem.ts'
import { BodyBudget, receiveBodiesWhole } from '../forwarding/request-body.ts'
import { downstreamHeaders, upstreamHeaders } from '../forwarding/upstream-headers.ts'
import { UpstreamShares } from '../forwarding/user-share.ts'
import { createUpstreamPool } from '../upstream/upstream-pool.ts'
import type { UpstreamTracing } from './tracing.ts'

/** The API's response: status and headers, and its body read whole (a small one) or still streaming. */
export interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Buffer | Readable
}

/**
 * A response up to this size is read whole before it is answered, as nginx's proxy buffers do: it leaves in one
 * write with its headers (one TLS record) and its API connection is free at once. Streaming it through cost
 * about a third more CPU per forwarded request (docs/benchmarks.md). Larger or unsized ones stream.
 */
export const WHOLE_RESPONSE_MAX_BYTES = 64 * 1024

/** Whether the API's answer is small enough, and has a body at all, to be read whole. */
function readWhole(method: string, status: number, headers: IncomingHttpHeaders): boolean {
  if (method === 'HEAD' || status === 204 || status === 304) return false
  const length = Number(headers['content-length'])
  return length >= 0 && length <= WHOLE_RESPONSE_MAX_BYTES
}

export interface ForwardOptions {
  /** One API instance, or several to balance over (each checked at /ready, see upstream-pool.ts). */
  upstreams: URL[]
  timeouts: ProxyConfig['upstream']
  identitySecret: string
  bodyLimitBytes: number
  bodyBufferMaxBytes: number
  userMaxInFlight: number
  /** Runs when the upstream's response headers arrive; may replace how the body is sent (the cache does). */
  onUpstreamResponse?: (request: FastifyRequest, reply: FastifyReply, response: UpstreamResponse) => void
  /** Runs when forwarding failed, before the 502/504 is sent; returning true means it answered instead. */
  onUpstreamError?: (request: FastifyRequest, reply: FastifyReply, status: 502 | 504) => boolean
  /** Set only when tracing is configured: a client span around each call to the API. */
  tracing?: UpstreamTracing
}

/** An instance may have died: its connection refused, unanswered, or closed before any answer came. */
const INSTANCE_LOST = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])
const NOT_LISTENING = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT'])

/** The whole response is due by UPSTREAM_TIMEOUT_MS: an exchange cut off then fails with a 504's error. */
const deadlinePassed = (error: unknown): boolean => error instanceof EdgeErrors.UpstreamTimeout

const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

export default async function forward(app: FastifyInstance, options: ForwardOptions): Promise<void> {
  const { upstreamDuration, upstreamErrors, clientFaults } = app.edgeMetrics
  receiveBodiesWhole(app, {
    limitBytes: options.bodyLimitBytes,
    budget: new BodyBudget(options.bodyBufferMaxBytes),
    onClientFault: kind => clientFaults.inc({ kind }),
  })
  // A declared length over the limit is refused before anything else reads the request.
  app.addHook('onRequest', (request, _reply, done) => {
    if (Number(request.headers['content-length'] ?? 0) <= options.bodyLimitBytes) return done()
    clientFaults.inc({ kind: 'too-large' })
    done(new EdgeErrors.BodyTooLarge(options.bodyLimitBytes))
  })

  const balanced =
    options.upstreams.length > 1
      ? createUpstreamPool(options.upstreams, {
          ...options.timeouts,
          onState: (origin, inRotation) => {
            app.edgeMetrics.upstreamUp.set({ upstream: origin }, inRotation ? 1 : 0)
            if (!inRotation) app.log.warn({ upstream: origin }, 'API instance out of rotation: its /ready fails')
            else app.log.info({ upstream: origin }, 'API instance in rotation')
          },
        })
      : undefined
  const origin = options.upstreams[0]!.origin
  const dispatcher: Dispatcher =
    balanced?.dispatcher ??
    new Pool(origin, {
      connections: options.timeouts.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: options.timeouts.timeoutMs,
      bodyTimeout: options.timeouts.timeoutMs,
      connect: { timeout: options.timeouts.connectTimeoutMs },
    })
  app.addHook('onClose', async () => {
    await (balanced !== undefined ? balanced.close() : dispatcher.close())
  })

  const shares = new UpstreamShares(options.userMaxInFlight)
  // Until some API instance has answered once, "nothing listens there" means it is still starting: 503 with
  // Retry-After, said once in the log, rather than a 502 per request.
  let apiHasAnswered = false
  let startingLogged = false

  /** One exchange with the API: retried (GET and HEAD only) when an instance was lost before any answer. */
  async function exchange(
    request: FastifyRequest,
    headers: IncomingHttpHeaders,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await dispatcher.request({
          origin,
          path: request.url,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body: body ?? null,
          signal,
        })
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        // The pool may pick the lost instance again until the check this failure sets off has taken it out, so
        // each try waits a little longer (25, 50, 100 ms…), one more try than there are instances. Nothing else
        // is retried: not a write (the lost instance may have applied it), not a 503 from a struggling API.
        if (balanced === undefined || !INSTANCE_LOST.has(code) || signal.aborted) throw error
        balanced.checkSoon()
        if (attempt > options.upstreams.length || (request.method !== 'GET' && request.method !== 'HEAD')) throw error
        await sleep(25 * 2 ** attempt)
      }
    }
  }

  function failed(request: FastifyRequest, reply: FastifyReply, error: unknown, deadline: AbortController): void {
    const cause = deadline.signal.aborted ? deadline.signal.reason : error
    options.tracing?.ended(request, cause as Error)
    if (cause instanceof EdgeErrors.ClientAborted || reply.sent || reply.raw.destroyed) {
      // The client is gone (or was answered already): it is not the API's failure.
      clientFaults.inc({ kind: 'aborted' })
      request.log.info('client went away before the API answered')
      return
    }
    const code = (cause as { code?: string }).code ?? ''
    if (!apiHasAnswered && NOT_LISTENING.has(code)) {
      if (!startingLogged) app.log.info({ upstream: origin }, 'the API does not answer yet: 503 until it does')
      startingLogged = true
      reply.send(new EdgeErrors.UpstreamStarting())
      return
    }
    const kind =
      deadlinePassed(cause) || code === 'UND_ERR_HEADERS_TIMEOUT'
        ? 'timeout'
        : NOT_LISTENING.has(code)
          ? 'connect'
          : 'other'
    upstreamErrors.inc({ kind })
    // Expected network conditions: one line, no stack. Anything else carries its stack.
    if (code !== '') request.log.warn({ kind, code, reason: (cause as Error).message }, 'forwarding to the API failed')
    else request.log.warn({ kind, err: cause }, 'forwarding to the API failed')
    const status = kind === 'timeout' ? 504 : 502
    if (options.onUpstreamError?.(request, reply, status) === true) return
    reply.send(status === 504 ? new EdgeErrors.UpstreamTimeout() : new EdgeErrors.UpstreamUnavailable())
  }

  async function forwardRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const user = `${request.principal!.tenant}\n${request.principal!.user}`
    // The whole response is due by UPSTREAM_TIMEOUT_MS (as Envoy's route timeout), a wait for the user's turn
    // included: the idle body timeout alone never fires for an API that trickles its body forever. A client
    // that leaves cancels the exchange too.
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(new EdgeErrors.UpstreamTimeout()), options.timeouts.timeoutMs)
    let held = false
    const release = (): void => {
      clearTimeout(timer)
      if (!held) return
      held = false
      shares.release(user)
    }
    // One listener for the exchange's end, however it ends: a client gone before its answer was complete
    // cancels the exchange with the API.
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded && !deadline.signal.aborted) deadline.abort(new EdgeErrors.ClientAborted())
      release()
    })
    held = shares.tryTake(user) || (await shares.wait(user, deadline.signal))
    if (!held) {
      clearTimeout(timer)
      if (deadline.signal.aborted) return failed(request, reply, deadline.signal.reason, deadline)
      throw new EdgeErrors.UserConcurrency(options.userMaxInFlight)
    }
    const started = process.hrtime.bigint()

    if (options.tracing !== undefined) request.traceparent = options.tracing.started(request)
    const requestBody = request.body as Buffer | undefined
    let response: Dispatcher.ResponseData
    try {
      response = await exchange(
        request,
        upstreamHeaders(request, options.identitySecret, requestBody),
        requestBody,
        deadline.signal,
      )
    } catch (error) {
      release()
      failed(request, reply, error, deadline)
      return
    }
    apiHasAnswered = true
    const stream = response.body as unknown as Readable
    // Whatever happens to the body from here (cut at the deadline, client gone), its error has an owner.
    stream.on('error', () => {})
    upstreamDuration.observe(
      { status_class: `${Math.floor(response.statusCode / 100)}xx` },
      Number(process.hrtime.bigint() - started) / 1e9,
    )
    options.tracing?.ended(request, response.statusCode)
    let body: Buffer | Readable = stream
    if (readWhole(request.method, response.statusCode, response.headers)) {
      try {
        body = Buffer.from(await response.body.arrayBuffer())
      } catch (error) {
        // Nothing was answered yet: a body cut off (the deadline, the API gone) is a clean 502 or 504.
        release()
        failed(request, reply, error, deadline)
        return
      }
      release()
    } else {
      stream.once('close', release)
      deadline.signal.addEventListener(
        'abort',
        () => {
          if (!deadlinePassed(deadline.signal.reason)) return
          upstreamErrors.inc({ kind: 'timeout' })
          request.log.warn(
            { deadlineMs: options.timeouts.timeoutMs },
            'the API response did not complete in time: cut off',
          )
          // Mid-answer over HTTP/2, the reset must carry an error code: Fastify's own would say NO_ERROR, which a
          // client may take for the end of a complete response.
          if (reply.raw.headersSent && request.raw.httpVersionMajor === 2) {
            ;(request.raw as unknown as Http2ServerRequest).stream.close(http2.NGHTTP2_INTERNAL_ERROR)
          }
        },
        { once: true },
      )
    }
    if (reply.sent || reply.raw.destroyed) {
      stream.destroy()
      return
    }
    reply.code(response.statusCode).headers(downstreamHeaders(response.headers))
    const upstream: UpstreamResponse = { statusCode: response.statusCode, headers: response.headers, body }
    if (options.onUpstreamResponse !== undefined) options.onUpstreamResponse(request, reply, upstream)
    else reply.send(body)
  }

  for (const url of ['/', '/*']) {
    // A callback handler: an async one returning the reply would await it, adding listeners to every response.
    app.route({
      method: METHODS,
      url,
      handler(request, reply) {
        forwardRequest(request, reply).catch((error: Error) => reply.send(error))
      },
    })
  }
}
