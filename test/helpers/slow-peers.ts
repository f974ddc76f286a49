// The edge as a real process (proxy/main.ts) with short client and upstream deadlines, in front of a
// scripted upstream whose routes misbehave on purpose, plus raw TLS clients that misbehave too: for the
// slow-client and slow-upstream drills and the soak that watches the proxy's memory.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as connectTls, type TLSSocket } from 'node:tls'
import type { Test } from 'tap'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { basic, startHttpStub, type Login } from './edge-stack.ts'
import { startProxyProcess, type ProxyProcess } from './service-processes.ts'

/** What the scripted upstream saw of one response it streamed. */
export interface Streamed {
  path: string
  bytesWritten: number
  closed: boolean
  finished: boolean
}

export interface SlowPeerStack {
  proxy: ProxyProcess
  port: number
  ca: string
  login: Login
  authorization: string
  /** Another tenant's login, for the well-behaved traffic beside the misbehaving user's. */
  bystanderAuthorization: string
  /** Every response the upstream streamed (big and trickle routes), in order. */
  streamed: Streamed[]
  /** Upload bodies the upstream received: how many bytes, and whether the request was cut off. */
  uploads: Array<{ bytes: number; aborted: boolean }>
  /** The method of every request to /api/v1/never that reached the upstream. */
  neverAnswered: string[]
  /** The proxy process's resident memory, from /proc/<pid>/status (kB). */
  rssKb(): number
  /** A raw TLS connection to the proxy, ALPN `http/1.1` or `h2`, closed when the test ends. */
  tls(alpn: 'http/1.1' | 'h2'): Promise<TLSSocket>
  /** A node:http2 session to the proxy, closed when the test ends. */
  h2(): ClientHttp2Session
}

export const BIG_BYTES = 64 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'x')

/**
 * Routes (each answers with `cache-control: no-store`, as a private API response would):
 * `/api/v1/fast` small JSON; `/api/v1/big` BIG_BYTES streamed as fast as the proxy takes them (with
 * `?shareable`: chunked, and cacheable by its headers);
 * `/api/v1/never` no answer at all; `/api/v1/trickle` headers at once, then a byte every 200 ms, forever
 * (`?shareable` too);
 * `POST /api/v1/upload` reads the body, then answers.
 */
function upstream(streamed: Streamed[], uploads: SlowPeerStack['uploads'], neverAnswered: string[]) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '').split('?')[0]!
    const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' }
    if (path === '/api/v1/never') {
      neverAnswered.push(request.method ?? '')
      return
    }
    if (path === '/api/v1/upload') {
      const upload = { bytes: 0, aborted: false }
      uploads.push(upload)
      request.on('data', (chunk: Buffer) => {
        upload.bytes += chunk.length
      })
      request.on('aborted', () => {
        upload.aborted = true
      })
      request.on('end', () => response.writeHead(200, headers).end(JSON.stringify({ bytes: upload.bytes })))
      return
    }
    if (path === '/api/v1/big' || path === '/api/v1/trickle') {
      const record: Streamed = { path, bytesWritten: 0, closed: false, finished: false }
      streamed.push(record)
      response.on('close', () => {
        record.closed = true
      })
      // ?shareable: a response the edge may store, and no length up front: it learns it is too large only by reading.
      const shareable = (request.url ?? '').endsWith('?shareable')
      response.writeHead(
        200,
        shareable
          ? { 'content-type': 'application/json', 'cache-control': 's-maxage=60' }
          : path === '/api/v1/trickle'
            ? headers
            : { ...headers, 'content-length': String(BIG_BYTES) },
      )
      if (path === '/api/v1/trickle') {
        const timer = setInterval(() => {
          if (!response.destroyed) {
            response.write(' ')
            record.bytesWritten++
          }
        }, 200)
        response.on('close', () => clearInterval(timer))
        return
      }
      // As fast as the proxy reads, never faster: write until the socket says wait, resume on drain.
      const pump = (): void => {
        while (record.bytesWritten < BIG_BYTES && !response.destroyed) {
          record.bytesWritten += CHUNK.length
          if (!response.write(CHUNK)) {
            response.once('drain', pump)
            return
          }
        }
        if (!response.destroyed) {
          record.finished = true
          response.end()
        }
      }
      pump()
      return
    }
    response.writeHead(200, headers).end(JSON.stringify({ ok: true, path }))
  }
}

export async function startSlowPeerStack(t: Test, proxyEnv: Record<string, string>): Promise<SlowPeerStack> {
  const streamed: Streamed[] = []
  const uploads: SlowPeerStack['uploads'] = []
  const neverAnswered: string[] = []
  const upstreamUrl = await startHttpStub(t, upstream(streamed, uploads, neverAnswered))

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-slow-peers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const login: Login = { tenant: { id: 'slow', slug: 'slow' }, login: 'peer@slow', password: 'slow-peer-password' }
  const htpasswdFile = join(dir, 'htpasswd')
  const bystander: Login = {
    tenant: { id: 'bystander', slug: 'bystander' },
    login: 'user@bystander',
    password: 'bystander-password',
  }
  writeFileSync(
    htpasswdFile,
    `${login.login}:${await hashPassword(login.password, 4)}\n${bystander.login}:${await hashPassword(bystander.password, 4)}\n`,
  )
  const proxy = await startProxyProcess(t, {
    upstreamUrls: upstreamUrl,
    htpasswdFile,
    env: { RATE_LIMIT_FREE: '10000000', ...proxyEnv },
  })
  const port = Number(new URL(proxy.url).port)
  const pid = proxy.process.child.pid!
  return {
    proxy,
    port,
    ca: proxy.caCert,
    login,
    authorization: basic(login),
    bystanderAuthorization: basic(bystander),
    streamed,
    uploads,
    neverAnswered,
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]),
    async tls(alpn) {
      const socket = connectTls({
        host: '127.0.0.1',
        port,
        ca: proxy.caCert,
        servername: 'localhost',
        ALPNProtocols: [alpn],
      })
      t.teardown(() => socket.destroy())
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve)
        socket.once('error', reject)
      })
      return socket
    },
    h2() {
      const session = connectHttp2(`https://localhost:${port}`, {
        ca: proxy.caCert,
        host: '127.0.0.1',
        servername: 'localhost',
      } as never)
      session.on('error', () => {})
      t.teardown(() => session.destroy())
      return session
    },
  }
}

/** How a connection ended: when (ms after `since`), and what the server sent before. */
export interface Ending {
  afterMs: number
  received: string
}

/** Resolves when the server closes `socket`, TLS or plain (or `boundMs` passes: then `afterMs` is Infinity). */
export function closedBy(socket: Socket, since: number, boundMs: number): Promise<Ending> {
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1')
  })
  socket.on('error', () => {})
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve({ afterMs: Infinity, received }), boundMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ afterMs: Date.now() - since, received })
    })
  })
}

/** Writes `text` one byte every `everyMs` until the socket closes. */
export function trickle(socket: Socket, text: string, everyMs: number): void {
  let index = 0
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) {
      clearInterval(timer)
      return
    }
    socket.write(text[index % text.length]!)
    index++
  }, everyMs)
  socket.once('close', () => clearInterval(timer))
}
