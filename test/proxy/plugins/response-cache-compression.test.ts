// The cache's coded variants: made once per entry and coding, kept per tenant, served on later hits without
// compressing; Cache-Status says which; ETags and 304s stay right. On the in-memory store and on Redis.
import t from 'tap'
import { decode, PAGE, pageResponder } from '../../helpers/compression.ts'
import { manualClock } from '../../helpers/manual-clock.ts'
import { startScriptedStack } from '../../helpers/scripted-upstream.ts'

const STORES: Array<[string, Record<string, string>]> = [
  ['memory', {}],
  ['redis', { REDIS_URL: 'redis://127.0.0.1:6379' }],
]

for (const [store, env] of STORES) {
  t.test(`${store} store`, async t => {
    t.test('one fetch, one compression per coding, per tenant', async t => {
      const stack = await startScriptedStack(t, env)
      stack.respond(pageResponder())
      const [alice, bob] = stack.logins
      const get = (as: typeof alice, accept?: string, http2 = true) =>
        stack.request('/api/v1/projects', {
          as,
          http2,
          headers: accept === undefined ? {} : { 'accept-encoding': accept },
        })

      const first = await get(alice, 'br')
      t.equal(first.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; stored', 'a miss')
      t.equal(first.headers['content-encoding'], 'br', 'answered coded, and the variant kept')
      t.same(decode('br', first.bytes), PAGE)

      const again = await get(alice, 'br', false)
      t.match(again.headers['cache-status'], /^Gatehouse; hit; ttl=\d+$/, 'the stored br variant: a plain hit')
      t.equal(again.headers['content-encoding'], 'br')
      t.same(again.bytes, first.bytes, 'the very bytes stored')

      const gzip = await get(alice, 'gzip')
      t.match(
        gzip.headers['cache-status'],
        /^Gatehouse; hit; ttl=\d+; detail=encoded-gzip$/,
        'the first gzip hit codes the entry once',
      )
      t.same(decode('gzip', gzip.bytes), PAGE)
      const gzipAgain = await get(alice, 'gzip', false)
      t.match(gzipAgain.headers['cache-status'], /^Gatehouse; hit; ttl=\d+$/, 'and the next one finds the gzip variant')
      t.same(gzipAgain.bytes, gzip.bytes)

      const plain = await get(alice)
      t.match(plain.headers['cache-status'], /^Gatehouse; hit; ttl=\d+$/)
      t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: the uncoded entry')
      t.same(plain.bytes, PAGE)
      t.match(plain.headers.vary, /Accept-Encoding/, 'which says it varies')

      const forBob = await get(bob, 'br')
      t.equal(
        forBob.headers['cache-status'],
        'Gatehouse; fwd=uri-miss; fwd-status=200; stored',
        "another tenant never gets alice's variant",
      )
      t.equal(forBob.headers.etag, `W/"page-${bob!.tenant.slug}"`)
      t.equal(stack.seen.length, 2, 'the upstream saw one request per tenant')

      const zstd = await get(bob, 'zstd;q=1, br;q=0.5')
      t.match(zstd.headers['cache-status'], /detail=encoded-zstd/)
      t.equal(zstd.headers['content-encoding'], 'zstd')
    })

    t.test('ETags of variants are weak, and If-None-Match is answered 304 for any of them', async t => {
      const stack = await startScriptedStack(t, env)
      stack.respond(pageResponder())
      const [alice] = stack.logins
      const strong = `"page-${alice!.tenant.slug}"`
      const coded = await stack.request('/api/v1/projects', { as: alice, headers: { 'accept-encoding': 'gzip' } })
      t.equal(coded.headers.etag, `W/${strong}`, 'coded: the strong tag made weak')
      const plain = await stack.request('/api/v1/projects', { as: alice })
      t.equal(plain.headers.etag, strong, "uncoded: the API's own tag")

      for (const [accept, inm] of [
        ['gzip', `W/${strong}`],
        ['br', `W/${strong}`],
        [undefined, `W/${strong}`],
        ['gzip', strong],
      ] as const) {
        const revalidated = await stack.request('/api/v1/projects', {
          as: alice,
          headers: { 'if-none-match': inm, ...(accept !== undefined ? { 'accept-encoding': accept } : {}) },
        })
        t.equal(revalidated.status, 304, `${inm} with ${accept ?? 'no Accept-Encoding'}`)
        t.equal(revalidated.body, '')
        t.equal(revalidated.headers['content-encoding'], undefined, 'a 304 carries no coding of a body it has not')
        t.match(revalidated.headers.vary, /Accept-Encoding/)
      }
      const changed = await stack.request('/api/v1/projects', {
        as: alice,
        headers: { 'if-none-match': 'W/"older"', 'accept-encoding': 'gzip' },
      })
      t.equal(changed.status, 200)
      t.equal(changed.headers['content-encoding'], 'gzip')
      t.equal(stack.seen.length, 1)
    })

    t.test('a revalidation that stores a new entry drops the variants made from the old one', async t => {
      const stack = await startScriptedStack(t, env)
      let version = 1
      stack.respond((request, response) => {
        const body = Buffer.concat([Buffer.from(`{"version":${version},"page":`), PAGE, Buffer.from('}')])
        response.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 's-maxage=60',
          'content-length': body.length,
        })
        response.end(body)
      })
      const [alice] = stack.logins
      const version1 = await stack.request('/api/v1/projects', { as: alice, headers: { 'accept-encoding': 'gzip' } })
      t.equal(JSON.parse(decode('gzip', version1.bytes).toString()).version, 1)
      version = 2
      const refreshed = await stack.request('/api/v1/projects', {
        as: alice,
        headers: { 'accept-encoding': 'br', 'cache-control': 'no-cache' },
      })
      t.match(refreshed.headers['cache-status'], /fwd=request/)
      const gzip = await stack.request('/api/v1/projects', { as: alice, headers: { 'accept-encoding': 'gzip' } })
      t.equal(JSON.parse(decode('gzip', gzip.bytes).toString()).version, 2, 'not the gzip variant of version 1')
      t.match(gzip.headers['cache-status'], /detail=encoded-gzip/)
    })

    t.test('concurrent misses in several codings: one upstream request, each answer in its own coding', async t => {
      const stack = await startScriptedStack(t, env)
      const page = pageResponder()
      stack.respond(async (request, response) => {
        await new Promise(resolve => setTimeout(resolve, 300)) // holds the fetch open so the others collapse onto it
        page(request, response)
      })
      const [alice] = stack.logins
      const codings = ['gzip', 'br', 'zstd', undefined, 'gzip', 'br']
      const responses = await Promise.all(
        codings.map(coding =>
          stack.request('/api/v1/projects', {
            as: alice,
            headers: coding === undefined ? {} : { 'accept-encoding': coding },
          }),
        ),
      )
      t.equal(stack.seen.length, 1, 'one request reached the upstream')
      for (const [index, response] of responses.entries()) {
        t.equal(response.headers['content-encoding'], codings[index], `request ${index}: its own coding`)
        t.same(decode(response.headers['content-encoding'], response.bytes), PAGE)
      }
      const statuses = responses.map(response => String(response.headers['cache-status']))
      t.equal(statuses.filter(status => status.endsWith('collapsed')).length, codings.length - 1)
    })

    t.test('a stale-if-error answer is coded too', async t => {
      const clock = manualClock()
      const stack = await startScriptedStack(t, env, { clock })
      stack.respond(pageResponder('s-maxage=1, stale-if-error=60'))
      const [alice] = stack.logins
      await stack.request('/api/v1/projects', { as: alice })
      clock.advance(1100) // s-maxage is in whole seconds: the entry must age past one
      await stack.stopUpstream()
      const stale = await stack.request('/api/v1/projects', { as: alice, headers: { 'accept-encoding': 'gzip' } })
      t.match(stale.headers['cache-status'], /fwd=stale.*detail=stale-if-error/)
      t.equal(stale.headers['content-encoding'], 'gzip')
      t.same(decode('gzip', stale.bytes), PAGE)
    })
  })
}

t.test('COMPRESSION=false: nothing is coded, nothing varies on Accept-Encoding', async t => {
  const stack = await startScriptedStack(t, { COMPRESSION: 'false' })
  stack.respond(pageResponder())
  const [alice] = stack.logins
  for (let round = 0; round < 2; round++) {
    const response = await stack.request('/api/v1/projects', {
      as: alice,
      headers: { 'accept-encoding': 'gzip, br, zstd' },
    })
    t.equal(response.headers['content-encoding'], undefined)
    t.notMatch(response.headers.vary, /Accept-Encoding/i)
    t.same(response.bytes, PAGE)
  }
})
