// HEADERS_TIMEOUT_MS and KEEP_ALIVE_TIMEOUT_MS for HTTP/2 sessions. Node enforces the header deadline on HTTP/1.1
// only, and emits an HTTP/2 'stream' only once its header block is complete: a HEADERS frame trickled byte by
// byte, or followed by CONTINUATION frames one by one, would hold a session until its idle deadline (or nghttp2's
// limit of 8 CONTINUATION frames). And a session is idle when it has no open stream, not when no frame has
// passed for a while (Node's session timeout): a request waiting longer than that for the API must not lose its
// session (a GOAWAY then fails it in clients such as undici).
// @see https://nodejs.org/docs/latest-v20.x/api/http2.html#http2sessionstate
import { constants, type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'

/** Why a session was destroyed: the server emits these as 'sessionError'. */
export class Http2StalledError extends Error {
  readonly code = 'GH_HTTP2_STALLED'
  constructor(requestMs: number) {
    super(`response data undelivered and nothing moved for ${requestMs} ms`)
  }
}

export class Http2HeadersTimeoutError extends Error {
  readonly code = 'GH_HTTP2_HEADERS_TIMEOUT'
  constructor(headersMs: number) {
    super(`request headers not complete within ${headersMs} ms`)
  }
}

/**
 * One session's requests: the last whose headers completed, the one seen begun without them, and since when;
 * how many streams are open, and since when none has been.
 */
interface HeaderProgress {
  completed: number
  pending: number
  since: number
  open: Set<ServerHttp2Stream>
  idleSince: number
  /** Bytes the session's socket had moved at the last sweep, and when that last changed. */
  moved: number
  movedAt: number
}

/**
 * Destroys (GOAWAY ENHANCE_YOUR_CALM) a session whose client began a request's headers and has not completed
 * them `headersMs` later; destroys one with response data waiting while not a byte moved for `requestMs` (a client
 * that stopped reading: as the HTTP/1.1 side's socket timeout); and closes (GOAWAY NO_ERROR) one without an open
 * stream for `keepAliveMs`. One sweep every `sweepMs` over the server's live sessions, only while it has any.
 */
export function enforceHttp2SessionDeadlines(
  server: Http2SecureServer,
  deadlines: { headersMs: number; requestMs: number; keepAliveMs: number },
  sweepMs: number,
): void {
  const { headersMs, requestMs, keepAliveMs } = deadlines
  const sessions = new Map<ServerHttp2Session, HeaderProgress>()
  let sweeper: NodeJS.Timeout | undefined

  const sweep = (): void => {
    const at = Date.now()
    for (const [session, progress] of sessions) {
      if (session.destroyed || session.closed) continue
      if (progress.open.size === 0 && progress.pending === 0 && at - progress.idleSince >= keepAliveMs) {
        session.close()
        continue
      }
      if (progress.open.size > 0) {
        const moved = (session.socket?.bytesRead ?? 0) + (session.socket?.bytesWritten ?? 0)
        if (moved !== progress.moved) {
          progress.moved = moved
          progress.movedAt = at
        } else if (at - progress.movedAt >= requestMs && [...progress.open].some(stream => stream.writableLength > 0)) {
          // Waiting on the API moves nothing either, but has nothing to deliver: only a client that stopped reading is
          // cut.
          session.destroy(new Http2StalledError(requestMs), constants.NGHTTP2_CANCEL)
          continue
        }
      }
      // nghttp2 moves lastProcStreamID when a request's HEADERS frame begins, before its header block is complete;
      // PING, SETTINGS or WINDOW_UPDATE frames never move it. Nor does a stream refused over maxConcurrentStreams:
      // its header block lasts only as long as the streams that filled the session (their own deadlines), then
      // the idle one.
      const begun = session.state.lastProcStreamID ?? 0
      if (begun <= progress.completed) {
        progress.pending = 0
      } else if (begun !== progress.pending) {
        progress.pending = begun
        progress.since = at
      } else if (at - progress.since >= headersMs) {
        // A header block nghttp2 rejected never becomes a 'stream' either: a client that sends nothing valid
        // after it loses its session here, sooner than the idle deadline would have taken it.
        session.destroy(new Http2HeadersTimeoutError(headersMs), constants.NGHTTP2_ENHANCE_YOUR_CALM)
      }
    }
  }

  server.on('session', (session: ServerHttp2Session) => {
    const progress: HeaderProgress = {
      completed: 0,
      pending: 0,
      since: 0,
      open: new Set(),
      idleSince: Date.now(),
      moved: 0,
      movedAt: Date.now(),
    }
    sessions.set(session, progress)
    session.on('stream', (stream: ServerHttp2Stream) => {
      progress.completed = Math.max(progress.completed, stream.id ?? 0)
      if (progress.open.size === 0) progress.movedAt = Date.now()
      progress.open.add(stream)
      stream.once('close', () => {
        progress.open.delete(stream)
        if (progress.open.size === 0) progress.idleSince = Date.now()
      })
    })
    session.once('close', () => {
      sessions.delete(session)
      if (sessions.size > 0) return
      clearInterval(sweeper)
      sweeper = undefined
    })
    sweeper ??= setInterval(sweep, sweepMs).unref()
  })
}
