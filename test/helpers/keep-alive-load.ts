// Keep-alive clients over TLS for shutdown drills, each request recorded with exactly how it ended.
// HTTP/1.1: one undici Client (one connection, reconnecting after `Connection: close`) per loop.
// HTTP/2: node:http2 sessions with several streams each. Not undici here: its HTTP/2 client fails the
// request at the head of its queue when a GOAWAY arrives, even one the server goes on to answer
// (undici 7 lib/dispatcher/client-h2.js onHttp2SessionGoAway), which is the client's fault, not the
// server's; Node's client follows RFC 9113 §6.8 (open streams finish, none are started after).
// A loop stops at the first failure once `stopping` is set (the server is going away: a real client
// would go elsewhere), and at any failure before that (which the drill then reports).
import { connect, type ClientHttp2Session } from 'node:http2'
import { Client } from 'undici'

export interface Attempt {
  id: string
  protocol: 'h1' | 'h2'
  startedAt: number
  endedAt: number
  status?: number
  /** The `connection` response header (HTTP/1.1). */
  connection?: string
  body?: Buffer
  /** Set when no complete response came; `phase` says whether any of it had arrived. */
  error?: string
  phase?: 'before-response' | 'during-body'
}

export interface LoadTarget {
  baseUrl: string
  ca: string
  authorization: string
  path(id: string): string
  /** Extra request headers, per request. */
  headers?(id: string): Record<string, string>
}

export interface KeepAliveLoad {
  attempts: Attempt[]
  /** From now on a failed request ends its loop quietly: the server is shutting down. */
  stopping(): void
  /** Resolves once every loop has ended (call after the server is gone, or after stopping()). */
  finished: Promise<void>
}

export function startKeepAliveLoad(
  target: LoadTarget,
  plan: { http1Loops: number; http2Sessions: number; streamsPerSession: number },
): KeepAliveLoad {
  const attempts: Attempt[] = []
  let stopping = false
  let sequence = 0
  const nextId = (protocol: string): string => `${protocol}-${String(++sequence).padStart(5, '0')}`

  const http1Loop = async (): Promise<void> => {
    const client = new Client(target.baseUrl, {
      connect: { ca: target.ca, servername: 'localhost' },
      pipelining: 1,
      keepAliveTimeout: 30_000,
    })
    try {
      for (;;) {
        const attempt: Attempt = { id: nextId('h1'), protocol: 'h1', startedAt: Date.now(), endedAt: 0 }
        attempts.push(attempt)
        try {
          const response = await client.request({
            path: target.path(attempt.id),
            method: 'GET',
            headers: {
              ...target.headers?.(attempt.id),
              authorization: target.authorization,
              'x-request-id': attempt.id,
            },
          })
          attempt.status = response.statusCode
          attempt.connection = String(response.headers.connection ?? '')
          attempt.phase = 'during-body'
          const chunks: Buffer[] = []
          for await (const chunk of response.body) chunks.push(chunk as Buffer)
          attempt.body = Buffer.concat(chunks)
          attempt.phase = undefined
        } catch (error) {
          attempt.error = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
          attempt.phase ??= 'before-response'
        }
        attempt.endedAt = Date.now()
        if (attempt.error !== undefined) return
      }
    } finally {
      await client.destroy()
    }
  }

  const openSession = async (): Promise<ClientHttp2Session> =>
    new Promise((resolve, reject) => {
      const session = connect(target.baseUrl, { ca: target.ca, servername: 'localhost' })
      session.once('connect', () => {
        session.off('error', reject)
        session.on('error', () => {})
        resolve(session)
      })
      session.once('error', reject)
    })

  const http2Attempt = async (session: ClientHttp2Session): Promise<Attempt> => {
    const attempt: Attempt = { id: nextId('h2'), protocol: 'h2', startedAt: Date.now(), endedAt: 0 }
    attempts.push(attempt)
    await new Promise<void>(resolve => {
      const fail = (error: Error): void => {
        attempt.error = `${(error as { code?: string }).code ?? ''} ${error.message}`
        attempt.phase = attempt.status === undefined ? 'before-response' : 'during-body'
        resolve()
      }
      try {
        const stream = session.request({
          ...target.headers?.(attempt.id),
          ':path': target.path(attempt.id),
          authorization: target.authorization,
          'x-request-id': attempt.id,
        })
        const chunks: Buffer[] = []
        stream.on('response', headers => {
          attempt.status = Number(headers[':status'])
        })
        stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        stream.on('error', fail)
        stream.on('close', () => {
          if (attempt.error !== undefined) return
          // A stream the server refused or reset closes with an error code and, maybe, no 'error' event.
          if (stream.rstCode !== 0 || attempt.status === undefined) {
            return fail(new Error(`stream closed with code ${stream.rstCode}`))
          }
          attempt.body = Buffer.concat(chunks)
          resolve()
        })
        stream.end()
      } catch (error) {
        fail(error as Error) // the session already received GOAWAY: nothing was sent
      }
    })
    attempt.endedAt = Date.now()
    return attempt
  }

  const http2Group = async (): Promise<void> => {
    let session: Promise<ClientHttp2Session> = openSession()
    const sessions: Array<Promise<ClientHttp2Session>> = [session]
    const loop = async (): Promise<void> => {
      for (;;) {
        let current: ClientHttp2Session
        try {
          current = await session
        } catch {
          return // could not connect: the server is gone
        }
        if (current.closed || current.destroyed) {
          if (!stopping) return
          // GOAWAY received: streams go on a new connection, as a client does (refused once the port closes).
          if (session === sessions.at(-1)) sessions.push((session = openSession()))
          continue
        }
        const attempt = await http2Attempt(current)
        if (attempt.error !== undefined && (!stopping || attempt.phase === 'during-body')) return
      }
    }
    await Promise.all(Array.from({ length: plan.streamsPerSession }, loop))
    for (const opened of sessions) {
      opened.then(
        s => s.destroy(),
        () => {},
      )
    }
  }

  const loops = [
    ...Array.from({ length: plan.http1Loops }, http1Loop),
    ...Array.from({ length: plan.http2Sessions }, http2Group),
  ]
  return {
    attempts,
    stopping: () => {
      stopping = true
    },
    finished: Promise.all(loops).then(() => {}),
  }
}
