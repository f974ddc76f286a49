// Draining the HTTPS server on shutdown so that no request in flight fails and clients move elsewhere
// cleanly. On Node 20 neither protocol drains well by itself:
// - HTTP/2 sessions end only when their clients leave. Each gets a GOAWAY notice (last stream id 2^31-1,
//   so streams the client sent before it saw the notice are still served), then the final GOAWAY
//   (`session.close()`): no new streams, the open ones finish.
// - HTTP/1.1 (ALPN fallback) connections busy at close stay open, keep-alive, after their response until
//   the client leaves. Here the last response due on a connection says `Connection: close` (Node then
//   closes it once that response is out); one whose keep-alive headers had already gone out is closed
//   when it has been idle a moment after its last response, and so is one idle when draining begins (not
//   at once, as Node's close() would: see common/idle-connection-linger.ts).
// A request that arrives on an open connection while draining is served, with `Connection: close`, not
// refused: the client could not know, and Fastify's 503 (what it answers once `app.close()` has begun)
// leaves a client with a POST guessing whether to send it again. So the caller closes the app only after
// drain() resolves: the server then has no connection left.
import { constants, type Http2SecureServer, type ServerHttp2Session } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { lingerIdleConnections } from '../common/idle-connection-linger.ts'

export interface DrainOptions {
  /** Between the GOAWAY notice and the final GOAWAY: about a round trip, for streams already on their way. */
  goawayNoticeMs?: number
  /**
   * How long an idle HTTP/1.1 connection (at the start of the drain, or after a keep-alive response) may still bring a
   * request.
   */
  idleCloseMs?: number
}

export interface ConnectionDrain {
  /** Stops accepting connections and drains the open ones; resolves once the server has none left. */
  drain(): Promise<void>
}

const MAX_STREAM_ID = 2 ** 31 - 1

interface Http1Connection {
  pending: ServerResponse[]
  idleTimer: NodeJS.Timeout | undefined
}

export function trackConnections(server: Http2SecureServer, options: DrainOptions = {}): ConnectionDrain {
  const goawayNoticeMs = options.goawayNoticeMs ?? 1000
  const idleCloseMs = options.idleCloseMs ?? 500
  let draining = false
  let drained: Promise<void> | undefined
  const sessions = new Set<ServerHttp2Session>()
  const http1 = new Map<Socket, Http1Connection>()
  // Idle ones are closed by closeWhenIdle below; Node's own pass, when close() is called, only later too.
  // (Node's types omit closeIdleConnections on the HTTP/2 server; with allowHTTP1 it has the HTTP/1.1 one.)
  lingerIdleConnections(server as unknown as { closeIdleConnections(): void }, idleCloseMs)

  const goaway = (session: ServerHttp2Session): void => {
    if (session.closed || session.destroyed) return
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID)
    setTimeout(() => {
      if (!session.closed && !session.destroyed) session.close()
    }, goawayNoticeMs).unref()
  }

  // Pipelined requests are answered in order: only the last one due may close the connection, or the
  // ones behind it would be processed and never answered.
  const closeAfterLast = (connection: Http1Connection): void => {
    connection.pending.forEach((response, index) => {
      if (!response.headersSent) response.shouldKeepAlive = index < connection.pending.length - 1
    })
  }
  const closeWhenIdle = (socket: Socket, connection: Http1Connection, afterMs: number): void => {
    clearTimeout(connection.idleTimer)
    connection.idleTimer = setTimeout(() => {
      if (connection.pending.length === 0) socket.destroySoon()
    }, afterMs)
    connection.idleTimer.unref()
  }

  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
    if (draining) goaway(session)
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return
    const connection: Http1Connection = { pending: [], idleTimer: undefined }
    http1.set(socket, connection)
    socket.once('close', () => {
      clearTimeout(connection.idleTimer)
      http1.delete(socket)
    })
    if (draining) closeWhenIdle(socket, connection, idleCloseMs)
  })
  // Before Fastify's own listener: the response must be known before anything could start writing it.
  server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = request.httpVersionMajor === 1 ? http1.get(request.socket) : undefined
    if (connection === undefined) return
    clearTimeout(connection.idleTimer)
    connection.pending.push(response)
    if (draining) closeAfterLast(connection)
    response.once('close', () => {
      connection.pending.splice(connection.pending.indexOf(response), 1)
      if (draining && connection.pending.length === 0) closeWhenIdle(request.socket, connection, idleCloseMs)
    })
  })

  async function drainNow(): Promise<void> {
    draining = true
    // close() stops accepting (in a cluster worker: its socket leaves the port, or the primary stops handing it
    // connections) and calls back once every connection has ended.
    const closed = new Promise<void>(resolve => server.close(() => resolve()))
    for (const session of sessions) goaway(session)
    for (const [socket, connection] of http1) {
      if (connection.pending.length === 0) closeWhenIdle(socket, connection, idleCloseMs)
      else closeAfterLast(connection)
    }
    await closed
  }

  return {
    drain() {
      drained ??= drainNow()
      return drained
    },
  }
}
