// The floor our proxy is measured against: Node doing nothing but what forwarding needs — the same Fastify
// HTTP/2+HTTP/1.1 TLS server as the proxy and @fastify/http-proxy over an undici pool like proxy/plugins/forward.ts's,
// the identity signed as the API requires — and none of the edge's work: no password check (the login in
// the Authorization header is taken at its word), no rate limit, no cache, no security headers, no metrics.
// Run by the bench (bench/targets/bare-forward.ts) with BARE_* variables; never a way to run the edge.
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'
import type { FastifyRequest } from 'fastify'
import { signIdentity } from '../common/identity-signature.ts'
import { TLS_OPTIONS } from '../proxy/tls/tls-options.ts'
import { Type } from 'typebox'
import { loadEnvConfig } from '../common/env-config.ts'

const settings = loadEnvConfig(
  Type.Object({
    BARE_PORT: Type.Integer({ minimum: 1, maximum: 65535 }),
    BARE_UPSTREAM: Type.String({ pattern: '^http://' }),
    BARE_CERT_FILE: Type.String({ minLength: 1 }),
    BARE_KEY_FILE: Type.String({ minLength: 1 }),
    BARE_IDENTITY_SECRET: Type.String({ minLength: 32 }),
  }),
  process.env,
)

const app = Fastify({
  http2: true,
  https: {
    allowHTTP1: true,
    ...TLS_OPTIONS,
    key: readFileSync(settings.BARE_KEY_FILE),
    cert: readFileSync(settings.BARE_CERT_FILE),
  },
})

const loginOf = (request: FastifyRequest): { tenant: string; user: string } => {
  const header = request.headers.authorization ?? ''
  const login =
    Buffer.from(header.replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':')[0] ?? ''
  const [user = '', tenant = ''] = login.split('@')
  return { tenant, user }
}

// The signature covers the body's digest, so the body is held whole before it is forwarded, as the edge does;
// it is forwarded as the bytes received (a stream: reply-from would re-encode a parsed JSON body).
const bodies = new WeakMap<object, Buffer>()
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
  bodies.set(request, body as Buffer)
  done(null, Readable.from([body], { objectMode: false }))
})

app.get('/health', async () => ({ status: 'ok' }))
await app.register(httpProxy, {
  upstream: settings.BARE_UPSTREAM,
  prefix: '/',
  http2: false,
  proxyPayloads: false,
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
  replyOptions: {
    // The upstream's own connection headers describe its connection to us, not ours to the client: passed on, a
    // `Connection: keep-alive` answer to a client that sent `Connection: close` made wrk reuse a socket being closed.
    rewriteHeaders: headers => {
      const { connection: _connection, 'keep-alive': _keepAlive, ...kept } = headers
      return kept
    },
    rewriteRequestHeaders: (request, headers) => {
      const { authorization: _authorization, ...kept } = headers
      const body = bodies.get(request)
      return {
        ...kept,
        ...signIdentity(settings.BARE_IDENTITY_SECRET, {
          ...loginOf(request as FastifyRequest),
          requestId: String(request.id),
          method: request.method,
          url: request.url,
          body,
        }),
      }
    },
  },
})
await app.listen({ host: '127.0.0.1', port: settings.BARE_PORT })
// A normal exit on SIGTERM, so that node --cpu-prof writes its profile.
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0))
})
