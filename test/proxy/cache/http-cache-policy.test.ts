import t from 'tap'
import {
  cacheStatus,
  etagMatches,
  parseCacheControl,
  requestDirectives,
  responseDecision,
  varyNames,
} from '../../../proxy/cache/http-cache-policy.ts'

t.test('parseCacheControl reads directives case-insensitively, with quoted values, first one wins', async t => {
  const parsed = parseCacheControl('Max-Age=0, s-maxage=5 ,no-cache="set-cookie", s-maxage=99, public')
  t.equal(parsed.get('max-age'), '0')
  t.equal(parsed.get('s-maxage'), '5')
  t.equal(parsed.get('no-cache'), 'set-cookie')
  t.equal(parsed.get('public'), true)
  t.equal(parseCacheControl(undefined).size, 0)
  t.equal(parseCacheControl(['private', 'max-age=3']).get('private'), true)
})

t.test('responseDecision stores only what a shared cache may keep for an authenticated request', async t => {
  const api = { 'cache-control': 'max-age=0, s-maxage=5, stale-if-error=60' }
  t.same(responseDecision(200, api, 300), { storable: true, freshMs: 5000, staleIfErrorMs: 60_000 })
  t.same(
    responseDecision(200, api, 10),
    { storable: true, freshMs: 5000, staleIfErrorMs: 10_000 },
    'stale-if-error is capped',
  )
  t.same(responseDecision(200, { 'cache-control': 'public, max-age=7' }, 300), {
    storable: true,
    freshMs: 7000,
    staleIfErrorMs: 0,
  })

  const refused: Array<[number, Record<string, string>, string]> = [
    [200, { 'cache-control': 'max-age=60' }, 'no-shared-lifetime'], // private by default with Authorization
    [200, {}, 'no-shared-lifetime'],
    [200, { 'cache-control': 'no-store, s-maxage=5' }, 'no-store'],
    [200, { 'cache-control': 'private, s-maxage=5' }, 'private'],
    [200, { 'cache-control': 'no-cache, s-maxage=5' }, 'no-cache'],
    [200, { 'cache-control': 's-maxage=0' }, 'zero-lifetime'],
    [200, { 'cache-control': 's-maxage=5', 'set-cookie': 'a=b' }, 'set-cookie'],
    [200, { 'cache-control': 's-maxage=5', vary: 'Accept, *' }, 'vary-star'],
    [500, { 'cache-control': 's-maxage=5' }, 'status'],
    [201, { 'cache-control': 's-maxage=5' }, 'status'],
  ]
  for (const [status, headers, reason] of refused) {
    t.same(responseDecision(status, headers, 300), { storable: false, reason }, `${status} ${JSON.stringify(headers)}`)
  }
})

t.test('requestDirectives: no-store skips the cache, no-cache and max-age=0 revalidate', async t => {
  t.same(requestDirectives(undefined), { noStore: false, mustRevalidate: false })
  t.same(requestDirectives('no-store'), { noStore: true, mustRevalidate: false })
  t.same(requestDirectives('no-cache'), { noStore: false, mustRevalidate: true })
  t.same(requestDirectives('max-age=0'), { noStore: false, mustRevalidate: true })
  t.same(requestDirectives('max-age=10'), { noStore: false, mustRevalidate: false })
})

t.test('varyNames normalises and detects *', async t => {
  t.same(varyNames('X-Gatehouse-Tenant, accept-encoding, Accept-Encoding'), ['accept-encoding', 'x-gatehouse-tenant'])
  t.equal(varyNames('*'), '*')
  t.same(varyNames(undefined), [])
})

t.test('etagMatches uses weak comparison, lists and *', async t => {
  t.ok(etagMatches('"a"', '"a"'))
  t.ok(etagMatches('W/"a"', '"a"'))
  t.ok(etagMatches('"x", W/"a"', 'W/"a"'))
  t.ok(etagMatches('*', '"anything"'))
  t.notOk(etagMatches('"b"', '"a"'))
  t.notOk(etagMatches(undefined, '"a"'))
  t.notOk(etagMatches('"a"', undefined))
})

t.test('cacheStatus renders RFC 9211 members', async t => {
  t.equal(cacheStatus({ hit: true, ttlSeconds: 4 }), 'Gatehouse; hit; ttl=4')
  t.equal(
    cacheStatus({ fwd: 'uri-miss', fwdStatus: 200, stored: true }),
    'Gatehouse; fwd=uri-miss; fwd-status=200; stored',
  )
  t.equal(
    cacheStatus({ fwd: 'stale', fwdStatus: 502, ttlSeconds: -3, detail: 'stale-if-error' }),
    'Gatehouse; fwd=stale; fwd-status=502; ttl=-3; detail=stale-if-error',
  )
  t.equal(cacheStatus({ fwd: 'uri-miss', collapsed: true }), 'Gatehouse; fwd=uri-miss; collapsed')
})
