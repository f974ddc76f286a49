// Draining the HTTPS server on shutdown so that no request in flight fails and clients move elsewhere
// cleanly. On Node 20 neither protocol drains well by itself:
// - HTTP/2 sessions end only when their clients leave. Each gets a GOAWAY notice (last stream id 2^31-1,
//   so streams the client sent before it saw the notice are still served), then the final GOAWAY
//   (`session.close()`): no new streams, the open ones finish.
// - HTTP/1.1 (ALPN fallback) connections busy at close stay open, keep-alive, after their response until
//   the client leaves. Here, a response not yet started says `Connection: close`, and a connection is
//   ended (its last response flushed first) as soon as it has no request left.
// A request that arrives on an open connection while draining is served (with `Connection: close`), not
// refused: the client could not know, and Fastify's 503 (what it answers once `app.close()` has begun)
// leaves a client with a POST guessing whether to send it again. So the caller closes the app only after
// drain() resolves: the server then has no connection left.
import { constants, type Http2SecureServer, type ServerHttp2Session } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

export interface DrainOptions {
  /** Between the GOAWAY notice and the final GOAWAY: about a round trip, for streams already on their way. */
  goawayNoticeMs?: number
  /** A connection told to end that still has not closed by then is destroyed. */
  endTimeoutMs?: number
}

export interface ConnectionDrain {
  /** Stops accepting connections and drains the open ones; resolves once the server has none left. */
  drain(): Promise<void>
  readonly draining: boolean
}

const MAX_STREAM_ID = 2 ** 31 - 1

export function trackConnections (server: Http2SecureServer, options: DrainOptions = {}): ConnectionDrain {
  const goawayNoticeMs = options.goawayNoticeMs ?? 1000
  const endTimeoutMs = options.endTimeoutMs ?? 5000
  let draining = false
  let drained: Promise<void> | undefined
  const sessions = new Set<ServerHttp2Session>()
  /** Requests being answered on each HTTP/1.1 connection. */
  const http1 = new Map<Socket, number>()
  const http1Responses = new Set<ServerResponse>()

  const end = (socket: Socket): void => {
    if (socket.destroyed) return
    socket.end()
    setTimeout(() => socket.destroy(), endTimeoutMs).unref()
  }
  const goaway = (session: ServerHttp2Session): void => {
    if (session.closed || session.destroyed) return
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID)
    setTimeout(() => { if (!session.closed && !session.destroyed) session.close() }, goawayNoticeMs).unref()
  }

  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
    if (draining) goaway(session)
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return
    http1.set(socket, 0)
    socket.once('close', () => http1.delete(socket))
    if (draining) end(socket)
  })
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.httpVersionMajor !== 1) return
    const socket = request.socket
    if (!http1.has(socket)) return
    http1.set(socket, http1.get(socket)! + 1)
    http1Responses.add(response)
    if (draining) response.shouldKeepAlive = false
    response.once('close', () => {
      http1Responses.delete(response)
      if (!http1.has(socket)) return
      const left = http1.get(socket)! - 1
      http1.set(socket, left)
      if (draining && left === 0) end(socket)
    })
  })

  return {
    get draining () { return draining },
    drain () {
      drained ??= drainNow()
      return drained
    },
  }

  async function drainNow (): Promise<void> {
    draining = true
    // close() stops accepting (in a cluster worker: the primary stops handing it connections) and calls
    // back once every connection has ended.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const session of sessions) goaway(session)
    for (const [socket, active] of http1) if (active === 0) end(socket)
    // Responses not started yet (most are waiting for the API) go out with `Connection: close`.
    for (const response of http1Responses) if (!response.headersSent) response.shouldKeepAlive = false
    await closed
  }
}
