// The floor of the edge-overhead section: the edge's work done the plainest way Node allows. node:https with the
// proxy's TLS options, bcrypt logins remembered once verified, a per-user counter, three security headers, a memory
// cache honouring shared freshness, forwarding over an http.Agent with the signed identity, and one-shot
// compression with the proxy's own coder (its coded variants cached beside the entry). Run by the bench
// (bench/targets/minimal-edge.ts) with MINIMAL_* variables; never a way to run the edge.
import { compare } from 'bcryptjs'
import { readFileSync } from 'node:fs'
import {
  Agent,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http'
import { createServer } from 'node:https'
import { resolve } from 'node:path'
import { Type } from 'typebox'
import { loadEnvConfig } from '../common/env-config.ts'
import { framesBody, signIdentity } from '../common/identity-signature.ts'
import { parseHtpasswd, type HtpasswdEntry } from '../proxy/auth/htpasswd.ts'
import type { Encoding } from '../proxy/compression/negotiation.ts'
import { TLS_OPTIONS } from '../proxy/tls/tls-options.ts'
import { encodable, encoded, minimalCoding, withVary } from './minimal-compression.ts'

export const EDGE_HEADERS = {
  'strict-transport-security': 'max-age=15552000',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
])

/** Logins checked against the htpasswd hashes once per distinct Authorization value, then looked up. */
export class Logins {
  readonly #verified = new Map<string, HtpasswdEntry>()
  readonly #checking = new Map<string, Promise<HtpasswdEntry | undefined>>()
  readonly entries: Map<string, HtpasswdEntry>
  constructor(entries: Map<string, HtpasswdEntry>) {
    this.entries = entries
  }

  known(header: string | undefined): HtpasswdEntry | undefined {
    return header === undefined ? undefined : this.#verified.get(header)
  }

  /** The bcrypt check, shared by concurrent requests with the same header (a failure is not remembered). */
  verify(header: string): Promise<HtpasswdEntry | undefined> {
    let pending = this.#checking.get(header)
    if (pending !== undefined) return pending
    const [login = '', ...rest] = Buffer.from(header.replace(/^Basic /i, ''), 'base64')
      .toString()
      .split(':')
    const entry = this.entries.get(login)
    const checked = entry === undefined ? Promise.resolve(false) : compare(rest.join(':'), entry.hash)
    pending = checked
      .then(ok => {
        if (!ok || entry === undefined) return undefined
        this.#verified.set(header, entry)
        return entry
      })
      .finally(() => this.#checking.delete(header))
    this.#checking.set(header, pending)
    return pending
  }
}

/** Seconds a shared cache may keep a response: s-maxage, or max-age with public; 0 when it may not be stored. */
export function sharedLifetime(cacheControl: string | undefined): number {
  const text = (cacheControl ?? '').toLowerCase()
  if (/(^|,)\s*(no-store|private|no-cache)\b/.test(text)) return 0
  const shared = /(?:^|,)\s*s-maxage=(\d+)/.exec(text)
  const seconds = shared ?? (/(^|,)\s*public\b/.test(text) ? /(?:^|,)\s*max-age=(\d+)/.exec(text) : null)
  return seconds === null ? 0 : Number(seconds[1])
}

export interface Entry {
  status: number
  headers: OutgoingHttpHeaders
  body: Buffer
  freshUntil: number
  /** Whether a client that asks gets it coded (its type and size allow it). */
  encodable?: boolean
}

/** Fresh entries by key, the oldest dropped past maxEntries (a Map keeps insertion order). */
export class MemoryCache {
  readonly #entries = new Map<string, Entry>()
  readonly maxEntries: number
  constructor(maxEntries = 10_000) {
    this.maxEntries = maxEntries
  }
  get(key: string, now = Date.now()): Entry | undefined {
    const entry = this.#entries.get(key)
    return entry !== undefined && now < entry.freshUntil ? entry : undefined
  }

  set(key: string, entry: Entry): void {
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!)
  }
}

/** What the client gets of the upstream's headers: all but hop-by-hop ones, with the edge's own added. */
export function downstream(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const kept: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) kept[name] = value
  return Object.assign(kept, EDGE_HEADERS)
}

export interface MinimalEdgeOptions {
  upstream: URL
  identitySecret: string
  logins: Logins
  perUserLimit: number
}

export function minimalEdgeHandler(options: MinimalEdgeOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new Agent({ keepAlive: true, maxSockets: 128 })
  const cache = new MemoryCache()
  const counts = new Map<string, number>()
  setInterval(() => counts.clear(), 60_000).unref()
  let sequence = 0
  const reply = (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer | string): void => {
    res.writeHead(status, { ...headers, ...EDGE_HEADERS })
    res.end(body)
  }

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    login: HtpasswdEntry,
    key: string,
    coding: Encoding | undefined,
    body?: Buffer,
  ): void => {
    const headers: OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name) && name !== 'authorization') headers[name] = value
    }
    headers['x-forwarded-for'] = req.socket.remoteAddress
    headers['x-forwarded-proto'] = 'https'
    const { tenant, user } = login
    Object.assign(
      headers,
      signIdentity(options.identitySecret, {
        tenant,
        user,
        requestId: `minimal-${++sequence}`,
        method: req.method!,
        url: req.url!,
        body,
      }),
    )
    const { hostname, port } = options.upstream
    const upstream = request({ agent, hostname, port, method: req.method, path: req.url, headers }, answer => {
      const storable = req.method === 'GET' && answer.statusCode === 200
      const lifetime = storable ? sharedLifetime(answer.headers['cache-control']) : 0
      const coded = encodable(answer.headers, Number(answer.headers['content-length'] ?? 0))
      // Piped as it comes unless it is to be stored or coded: one-shot coding wants the whole body.
      if (lifetime === 0 && (!coded || coding === undefined)) {
        const kept = downstream(answer.headers)
        res.writeHead(answer.statusCode!, coded ? withVary(kept) : kept)
        answer.pipe(res)
        return
      }
      const chunks: Buffer[] = []
      answer.on('data', (chunk: Buffer) => chunks.push(chunk))
      answer.on('end', () => {
        const kept = downstream(answer.headers)
        const entry: Entry = {
          status: answer.statusCode!,
          headers: coded ? withVary(kept) : kept,
          body: Buffer.concat(chunks),
          freshUntil: Date.now() + lifetime * 1000,
          encodable: coded,
        }
        if (lifetime === 0) {
          const sent = encoded(entry, coding!)
          return reply(res, sent.status, sent.headers, sent.body)
        }
        cache.set(key, entry)
        // The coding this client asked for is made now and kept, as the proxy's cache does.
        const sent = coded && coding !== undefined ? encoded(entry, coding) : entry
        if (sent !== entry) cache.set(`${key}\n${coding}`, sent)
        reply(res, sent.status, { ...sent.headers, 'cache-status': 'minimal; fwd=miss; stored' }, sent.body)
      })
    })
    upstream.on('error', () => {
      if (!res.headersSent) reply(res, 502, {}, '')
      else res.destroy()
    })
    upstream.end(body)
  }

  const serve = (req: IncomingMessage, res: ServerResponse, login: HtpasswdEntry): void => {
    const used = (counts.get(login.login) ?? 0) + 1
    counts.set(login.login, used)
    if (used > options.perUserLimit) return reply(res, 429, { 'retry-after': '60' }, '')
    const key = `${login.login} ${req.url}`
    const coding = req.method === 'HEAD' ? undefined : minimalCoding(req.headers['accept-encoding'])
    const hit = req.method === 'GET' ? cache.get(key) : undefined
    if (hit !== undefined) {
      // A coded variant made once, on the first hit that asks for it, and kept.
      let sent = hit
      if (hit.encodable === true && coding !== undefined) {
        const variant = `${key}\n${coding}`
        const kept = cache.get(variant)
        if (kept !== undefined) sent = kept
        else cache.set(variant, (sent = encoded(hit, coding)))
      }
      return reply(res, sent.status, { ...sent.headers, 'cache-status': 'minimal; hit' }, sent.body)
    }
    if (!framesBody(req.headers)) return forward(req, res, login, key, coding)
    // The signature covers the body's digest: it is held whole before it goes on, as the proxy does.
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => forward(req, res, login, key, coding, Buffer.concat(chunks)))
  }

  return (req, res) => {
    if (req.url === '/health') return reply(res, 200, { 'content-type': 'application/json' }, '{"status":"ok"}')
    const header = req.headers.authorization
    const login = options.logins.known(header)
    if (login !== undefined) return serve(req, res, login)
    if (header === undefined) return reply(res, 401, { 'www-authenticate': 'Basic realm="Gatehouse"' }, '')
    void options.logins.verify(header).then(verified => {
      if (verified === undefined) reply(res, 401, { 'www-authenticate': 'Basic realm="Gatehouse"' }, '')
      else serve(req, res, verified)
    })
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const settings = loadEnvConfig(
    Type.Object({
      MINIMAL_PORT: Type.Integer({ minimum: 1, maximum: 65535 }),
      MINIMAL_UPSTREAM: Type.String({ pattern: '^http://' }),
      MINIMAL_CERT_FILE: Type.String({ minLength: 1 }),
      MINIMAL_KEY_FILE: Type.String({ minLength: 1 }),
      MINIMAL_HTPASSWD_FILE: Type.String({ minLength: 1 }),
      MINIMAL_IDENTITY_SECRET: Type.String({ minLength: 32 }),
    }),
    process.env,
  )
  const handler = minimalEdgeHandler({
    upstream: new URL(settings.MINIMAL_UPSTREAM),
    identitySecret: settings.MINIMAL_IDENTITY_SECRET,
    logins: new Logins(parseHtpasswd(readFileSync(settings.MINIMAL_HTPASSWD_FILE, 'utf8')).entries),
    // As the bench sets the proxy's: counted on every request, never reached.
    perUserLimit: 1_000_000_000,
  })
  const key = readFileSync(settings.MINIMAL_KEY_FILE)
  const tls = { ...TLS_OPTIONS, key, cert: readFileSync(settings.MINIMAL_CERT_FILE) }
  const server = createServer(tls, handler).listen(settings.MINIMAL_PORT, '127.0.0.1')
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}
