// The minimal Node edge's decisions, in process (plain HTTP in front of a recording upstream): who is let in,
// what is cached and for how long, that what it forwards is signed as the proxy signs it, and what it codes.
import t, { type Test } from 'tap'
import { hash } from 'bcryptjs'
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http'
import { request } from 'undici'
import { gunzipSync, zstdDecompressSync } from 'node:zlib'
import { verifyIdentity } from '../../common/identity-signature.ts'
import { parseHtpasswd } from '../../proxy/auth/htpasswd.ts'
import {
  EDGE_HEADERS,
  Logins,
  MemoryCache,
  minimalEdgeHandler,
  sharedLifetime,
  type Entry,
} from '../../bench/minimal-edge.ts'
import { minimalCoding } from '../../bench/minimal-compression.ts'
import { PAGE_ETAG, PROJECT_PAGE, trivialAnswer } from '../../bench/trivial-upstream.ts'

const SECRET = 'a-secret-of-at-least-thirty-two-characters'
const basic = (login: string, password: string): string =>
  `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`

async function listen(t: Test, handler: RequestListener): Promise<{ origin: string; server: Server }> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

interface Seen {
  url: string
  headers: IncomingHttpHeaders
}

async function edge(t: Test, perUserLimit = 1000): Promise<{ origin: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const upstream = await listen(t, (req, res) => {
    seen.push({ url: req.url!, headers: req.headers })
    const answer = trivialAnswer(req.url!)
    res.writeHead(answer.status, answer.headers).end(answer.body)
  })
  const logins = new Logins(parseHtpasswd(`alice@acme:${await hash('right', 4)}\n`).entries)
  const upstreamUrl = new URL(upstream.origin)
  const handler = minimalEdgeHandler({ upstream: upstreamUrl, identitySecret: SECRET, logins, perUserLimit })
  const front = await listen(t, handler)
  return { origin: front.origin, seen }
}

t.test('only the right password gets in, and every answer carries the three edge headers', async t => {
  const { origin, seen } = await edge(t)
  for (const authorization of [undefined, basic('alice@acme', 'wrong'), basic('mallory@acme', 'right')]) {
    const headers = authorization === undefined ? {} : { authorization }
    const response = await request(`${origin}/api/v1/x`, { headers })
    await response.body.dump()
    t.equal(response.statusCode, 401, `${authorization ?? 'no credentials'}: refused`)
    t.match(response.headers['www-authenticate'], /^Basic /)
    t.equal(response.headers['x-frame-options'], EDGE_HEADERS['x-frame-options'])
  }
  t.equal(seen.length, 0, 'nothing refused reached the upstream')
  const response = await request(`${origin}/api/v1/x`, { headers: { authorization: basic('alice@acme', 'right') } })
  await response.body.dump()
  t.equal(response.statusCode, 200)
  for (const [name, value] of Object.entries(EDGE_HEADERS)) t.equal(response.headers[name], value)
})

t.test('a shareable answer is served from the cache; a no-store one is forwarded every time, signed', async t => {
  const { origin, seen } = await edge(t)
  const headers = { authorization: basic('alice@acme', 'right') }
  const statuses: unknown[] = []
  for (const url of ['/api/v1/x', '/api/v1/x', '/api/v1/x?cache=no', '/api/v1/x?cache=no']) {
    const response = await request(`${origin}${url}`, { headers })
    t.equal((await response.body.text()).length, trivialAnswer(url).body.length)
    statuses.push(response.headers['cache-status'])
  }
  t.same(statuses, ['minimal; fwd=miss; stored', 'minimal; hit', undefined, undefined])
  t.same(
    seen.map(request => request.url),
    ['/api/v1/x', '/api/v1/x?cache=no', '/api/v1/x?cache=no'],
  )
  for (const request of seen) {
    t.equal(request.headers.authorization, undefined, 'the password is not passed on')
    const verified = verifyIdentity(SECRET, { method: 'GET', url: request.url, headers: request.headers }, 60)
    t.match(verified, { ok: true, identity: { tenant: 'acme', user: 'alice' } })
  }
})

t.test('the per-user counter refuses past its limit', async t => {
  const { origin } = await edge(t, 2)
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) {
    const headers = { authorization: basic('alice@acme', 'right') }
    const response = await request(`${origin}/api/v1/x?cache=no`, { headers })
    await response.body.dump()
    statuses.push(response.statusCode)
  }
  t.same(statuses, [200, 200, 429])
})

t.test('concurrent first requests share one bcrypt check', async t => {
  const logins = new Logins(parseHtpasswd(`alice@acme:${await hash('right', 4)}\n`).entries)
  const header = basic('alice@acme', 'right')
  t.equal(logins.verify(header), logins.verify(header))
  t.match(await logins.verify(header), { user: 'alice', tenant: 'acme' })
  t.match(logins.known(header), { login: 'alice@acme' })
  t.equal(await logins.verify(basic('alice@acme', 'wrong')), undefined)
  t.equal(logins.known(basic('alice@acme', 'wrong')), undefined)
})

t.test('shared freshness: s-maxage, or max-age when public; nothing with no-store, private or no-cache', async t => {
  const cases: Array<[string | undefined, number]> = [
    ['public, max-age=60', 60],
    ['max-age=60', 0],
    ['s-maxage=5, max-age=60', 5],
    ['public, no-store, max-age=60', 0],
    ['private, max-age=60', 0],
    ['no-cache, s-maxage=5', 0],
    ['public', 0],
    [undefined, 0],
    ['Public, Max-Age=30', 30],
  ]
  for (const [header, seconds] of cases) t.equal(sharedLifetime(header), seconds, String(header))
})

t.test('the cache forgets expired entries and the oldest past its size', async t => {
  const cache = new MemoryCache(2)
  const entry = (freshUntil: number): Entry => ({ status: 200, headers: {}, body: Buffer.from('x'), freshUntil })
  cache.set('a', entry(2000))
  cache.set('b', entry(500))
  t.ok(cache.get('a', 1000))
  t.equal(cache.get('b', 1000), undefined, 'expired')
  cache.set('c', entry(2000))
  t.equal(cache.get('a', 1000), undefined, 'evicted: the oldest of three')
  t.ok(cache.get('c', 1000))
})

t.test('the page is coded as asked, missed or hit, with Vary, a weak ETag and its coded length', async t => {
  const { origin, seen } = await edge(t)
  const authorization = basic('alice@acme', 'right')
  const decode = { gzip: gunzipSync, zstd: zstdDecompressSync }
  for (const url of ['/api/v1/x?body=page&cache=no', '/api/v1/x?body=page', '/api/v1/x?body=page']) {
    for (const coding of ['gzip', 'zstd'] as const) {
      const response = await request(`${origin}${url}`, { headers: { authorization, 'accept-encoding': coding } })
      const body = Buffer.from(await response.body.arrayBuffer())
      t.equal(response.headers['content-encoding'], coding, `${url}, ${coding}`)
      t.equal(response.headers.vary, 'Accept-Encoding')
      t.equal(response.headers.etag, `W/${PAGE_ETAG}`)
      t.equal(Number(response.headers['content-length']), body.length)
      t.same(decode[coding](body), PROJECT_PAGE)
    }
  }
  t.equal(seen.length, 3, 'the cacheable page was fetched once; its zstd variant made on the first hit')
  const plain = await request(`${origin}/api/v1/x?body=page`, { headers: { authorization } })
  t.same(Buffer.from(await plain.body.arrayBuffer()), PROJECT_PAGE, 'uncoded for a client that does not ask')
  t.equal(plain.headers['content-encoding'], undefined)
  t.equal(plain.headers.vary, 'Accept-Encoding')
  t.equal(plain.headers.etag, PAGE_ETAG)
  const small = await request(`${origin}/api/v1/x`, { headers: { authorization, 'accept-encoding': 'gzip' } })
  await small.body.dump()
  t.equal(small.headers['content-encoding'], undefined, 'a body under COMPRESSION_MIN_BYTES goes uncoded')
})

t.test('Accept-Encoding read by name, ours preferred zstd first', async t => {
  t.equal(minimalCoding(undefined), undefined)
  t.equal(minimalCoding('gzip, deflate, br, zstd'), 'zstd')
  t.equal(minimalCoding('gzip, br'), 'br')
  t.equal(minimalCoding('x-gzip'), 'gzip')
  t.equal(minimalCoding('deflate'), undefined)
})
