// The edge cache against a scripted upstream: what is stored, for whom, for how long, and what every
// response says about it. Runs once on the in-memory store and once on Redis.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { manualClock } from '../../helpers/manual-clock.ts'
import { shareable, startScriptedStack, type Responder } from '../../helpers/scripted-upstream.ts'

const STORES: Array<[string, Record<string, string>]> = [
  ['memory', {}],
  ['redis', { REDIS_URL: 'redis://127.0.0.1:6379' }],
]

for (const [store, env] of STORES) {
  t.test(`${store} store`, async t => {
    t.test('a shareable GET is fetched once, then served from the cache over HTTP/2 and HTTP/1.1', async t => {
      const stack = await startScriptedStack(t, env)
      const [alice] = stack.logins
      const first = await stack.request('/api/v1/projects?limit=5', { as: alice })
      t.equal(first.status, 200)
      t.equal(first.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; stored')
      const second = await stack.request('/api/v1/projects?limit=5', { as: alice, http2: false })
      t.equal(second.status, 200)
      t.match(second.headers['cache-status'], /^Gatehouse; hit; ttl=(59|60)$/)
      t.equal(second.body, first.body, 'the very same body')
      t.equal(second.headers.etag, first.headers.etag)
      t.equal(second.headers['content-type'], 'application/json')
      t.match(second.headers.age, /^\d+$/)
      t.not(
        second.headers['x-request-id'],
        first.headers['x-request-id'],
        "the request id is this request's, not the stored one",
      )
      t.equal(stack.seen.length, 1, 'the upstream saw one request')
      const other = await stack.request('/api/v1/projects?limit=6', { as: alice })
      t.equal(
        other.headers['cache-status'],
        'Gatehouse; fwd=uri-miss; fwd-status=200; stored',
        'another query string is another entry',
      )
      t.equal(await stack.metric('gatehouse_proxy_cache_lookups_total', { outcome: 'hit' }), 1)
      t.equal(await stack.metric('gatehouse_proxy_cache_lookups_total', { outcome: 'miss' }), 2)
    })

    t.test("one tenant is never served another tenant's entry", async t => {
      const stack = await startScriptedStack(t, env)
      const [alice, bob] = stack.logins
      const forAlice = await stack.request('/api/v1/projects', { as: alice })
      const forBob = await stack.request('/api/v1/projects', { as: bob })
      t.equal(forAlice.json().tenant, alice!.tenant.slug)
      t.equal(forBob.json().tenant, bob!.tenant.slug)
      t.match(forBob.headers['cache-status'], /fwd=uri-miss/)
      const again = await stack.request('/api/v1/projects', { as: bob })
      t.equal(again.json().tenant, bob!.tenant.slug)
      t.match(again.headers['cache-status'], /hit/)
      t.same(
        stack.seen.map(seen => seen.tenant),
        [alice!.tenant.slug, bob!.tenant.slug],
      )
    })

    t.test('a client claiming another tenant in headers still gets its own entry', async t => {
      const stack = await startScriptedStack(t, env)
      const [alice, bob] = stack.logins
      await stack.request('/api/v1/projects', { as: alice })
      const spoofed = await stack.request('/api/v1/projects', {
        as: bob,
        headers: { 'x-gatehouse-tenant': alice!.tenant.slug },
      })
      t.equal(spoofed.json().tenant, bob!.tenant.slug)
      t.match(spoofed.headers['cache-status'], /fwd=uri-miss/)
    })

    t.test('responses without shared-cache permission are never stored', async t => {
      const cases: Array<[string, Responder, string]> = [
        ['no-store', shareable('no-store'), 'no-store'],
        ['private', shareable('private, s-maxage=60'), 'private'],
        ['browser-only lifetime', shareable('max-age=60'), 'no-shared-lifetime'],
        [
          'set-cookie',
          (request, response) => {
            response.writeHead(200, { 'cache-control': 's-maxage=60', 'set-cookie': 'session=1' })
            response.end('{}')
          },
          'set-cookie',
        ],
        [
          'server error',
          (request, response) => {
            response.writeHead(500, { 'cache-control': 's-maxage=60', 'content-type': 'application/json' })
            response.end('{"error":true}')
          },
          'status',
        ],
      ]
      for (const [name, responder, reason] of cases) {
        const stack = await startScriptedStack(t, env)
        stack.respond(responder)
        const [alice] = stack.logins
        const first = await stack.request('/api/v1/projects', { as: alice })
        const second = await stack.request('/api/v1/projects', { as: alice })
        t.equal(second.status, first.status, name)
        t.match(
          second.headers['cache-status'],
          new RegExp(`fwd=uri-miss; fwd-status=${first.status}; detail=${reason}$`),
          name,
        )
        t.equal(stack.seen.length, 2, `${name}: both reached the upstream`)
      }
    })

    t.test('Vary: a variant is reused only for requests with the same header values', async t => {
      const stack = await startScriptedStack(t, env)
      stack.respond((request, response) => {
        response.writeHead(200, { 'cache-control': 's-maxage=60', vary: 'Accept-Language, X-Gatehouse-Tenant' })
        response.end(JSON.stringify({ language: request.headers['accept-language'] }))
      })
      const [alice] = stack.logins
      const english = await stack.request('/api/v1/tasks', { as: alice, headers: { 'accept-language': 'en' } })
      const german = await stack.request('/api/v1/tasks', { as: alice, headers: { 'accept-language': 'de' } })
      t.equal(german.json().language, 'de')
      t.match(german.headers['cache-status'], /fwd=vary-miss/)
      const germanAgain = await stack.request('/api/v1/tasks', { as: alice, headers: { 'accept-language': 'de' } })
      t.match(germanAgain.headers['cache-status'], /hit/)
      t.equal(germanAgain.json().language, 'de')
      t.equal(english.json().language, 'en')
    })

    t.test('conditional requests are answered at the edge, from a hit or a fresh fetch', async t => {
      const stack = await startScriptedStack(t, env)
      const [alice] = stack.logins
      const etag = `"${alice!.tenant.slug}-${'/api/v1/projects'.length}"`
      const onMiss = await stack.request('/api/v1/projects', { as: alice, headers: { 'if-none-match': etag } })
      t.equal(onMiss.status, 304)
      t.equal(onMiss.body, '')
      t.equal(onMiss.headers.etag, etag)
      t.equal(
        stack.seen[0]!.headers['if-none-match'],
        undefined,
        'the upstream was asked for the full response, to store it',
      )
      const onHit = await stack.request('/api/v1/projects', {
        as: alice,
        headers: { 'if-none-match': `"other", W/${etag}` },
      })
      t.equal(onHit.status, 304)
      t.match(onHit.headers['cache-status'], /hit/)
      const changed = await stack.request('/api/v1/projects', {
        as: alice,
        headers: { 'if-none-match': '"stale-version"' },
      })
      t.equal(changed.status, 200)
      t.equal(changed.json().tenant, alice!.tenant.slug)
      t.equal(stack.seen.length, 1)
    })

    t.test("a successful write invalidates that tenant's entries, and only that tenant's", async t => {
      const stack = await startScriptedStack(t, env)
      const [alice, bob] = stack.logins
      const writes: Responder = (request, response, body) => {
        if (request.method === 'GET') return shareable()(request, response, body)
        const status = body.includes('invalid') ? 400 : 201
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        response.end('{}')
      }
      stack.respond(writes)
      await stack.request('/api/v1/projects', { as: alice })
      await stack.request('/api/v1/tasks', { as: alice })
      await stack.request('/api/v1/projects', { as: bob })

      const refused = await stack.request('/api/v1/projects', { as: alice, method: 'POST', body: '{"name":"invalid"}' })
      t.equal(refused.status, 400)
      t.equal(refused.headers['cache-status'], 'Gatehouse; fwd=method; fwd-status=400')
      t.match(
        (await stack.request('/api/v1/projects', { as: alice })).headers['cache-status'],
        /hit/,
        'a refused write changes nothing',
      )

      const created = await stack.request('/api/v1/projects', { as: alice, method: 'POST', body: '{"name":"ok"}' })
      t.equal(created.status, 201)
      t.match(
        (await stack.request('/api/v1/projects', { as: alice })).headers['cache-status'],
        /fwd=uri-miss/,
        'the list is fetched anew',
      )
      t.match(
        (await stack.request('/api/v1/tasks', { as: alice })).headers['cache-status'],
        /fwd=uri-miss/,
        'and so is every other entry of the tenant',
      )
      t.match(
        (await stack.request('/api/v1/projects', { as: bob })).headers['cache-status'],
        /hit/,
        'another tenant keeps its entries',
      )
    })

    t.test('concurrent misses for one key make a single upstream request', async t => {
      const stack = await startScriptedStack(t, env)
      stack.respond(async (request, response, body) => {
        await sleep(300)
        shareable()(request, response, body)
      })
      const [alice] = stack.logins
      const responses = await Promise.all(
        Array.from({ length: 8 }, () => stack.request('/api/v1/projects', { as: alice })),
      )
      t.equal(stack.seen.length, 1, 'one request reached the upstream')
      t.same(new Set(responses.map(response => response.body)).size, 1, 'all got the same body')
      const statuses = responses.map(response => response.headers['cache-status'])
      t.equal(statuses.filter(status => status === 'Gatehouse; fwd=uri-miss; fwd-status=200; stored').length, 1)
      t.equal(statuses.filter(status => status === 'Gatehouse; fwd=uri-miss; fwd-status=200; collapsed').length, 7)
    })

    t.test('a stale entry covers a failing upstream within stale-if-error, and only then', async t => {
      const clock = manualClock()
      const stack = await startScriptedStack(t, env, { clock })
      stack.respond(shareable('s-maxage=1, stale-if-error=30'))
      const [alice, bob] = stack.logins
      const original = await stack.request('/api/v1/projects', { as: alice })
      clock.advance(1100)
      stack.respond((request, response) => {
        response.writeHead(503, { 'content-type': 'application/problem+json' })
        response.end('{"status":503}')
      })
      const onError = await stack.request('/api/v1/projects', { as: alice })
      t.equal(onError.status, 200)
      t.equal(onError.body, original.body)
      t.match(
        onError.headers['cache-status'],
        /^Gatehouse; fwd=stale; fwd-status=503; ttl=-\d+; detail=stale-if-error$/,
      )

      await stack.stopUpstream()
      const onDown = await stack.request('/api/v1/projects', { as: alice })
      t.equal(onDown.status, 200)
      t.equal(onDown.body, original.body)
      t.match(onDown.headers['cache-status'], /fwd=stale; fwd-status=502/)

      const nothingStored = await stack.request('/api/v1/projects', { as: bob })
      t.equal(nothingStored.status, 502, 'no entry, no cover')
      t.equal(nothingStored.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.equal(await stack.metric('gatehouse_proxy_cache_lookups_total', { outcome: 'stale' }), 2)
    })

    t.test('a stale entry without stale-if-error does not hide an upstream error', async t => {
      const clock = manualClock()
      const stack = await startScriptedStack(t, env, { clock })
      stack.respond(shareable('s-maxage=1'))
      const [alice] = stack.logins
      await stack.request('/api/v1/projects', { as: alice })
      clock.advance(1100)
      await stack.stopUpstream()
      const response = await stack.request('/api/v1/projects', { as: alice })
      t.equal(response.status, 502)
      t.equal(
        response.headers['cache-status'],
        'Gatehouse; fwd=uri-miss; fwd-status=502',
        'the expired entry is gone, not served',
      )
    })

    t.test('HEAD is answered from a stored GET; client no-store bypasses, no-cache refetches', async t => {
      const stack = await startScriptedStack(t, env)
      const [alice] = stack.logins
      const get = await stack.request('/api/v1/projects', { as: alice })
      const head = await stack.request('/api/v1/projects', { as: alice, method: 'HEAD' })
      t.equal(head.status, 200)
      t.equal(head.body, '')
      t.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)))
      t.match(head.headers['cache-status'], /hit/)

      const bypass = await stack.request('/api/v1/projects', { as: alice, headers: { 'cache-control': 'no-store' } })
      t.equal(bypass.headers['cache-status'], 'Gatehouse; fwd=bypass; fwd-status=200; detail=request-no-store')
      const refetch = await stack.request('/api/v1/projects', { as: alice, headers: { 'cache-control': 'no-cache' } })
      t.equal(refetch.headers['cache-status'], 'Gatehouse; fwd=request; fwd-status=200; stored')
      t.equal(stack.seen.length, 3)
    })
  })
}

t.test('the memory store is bounded in entries and in the size of one entry', async t => {
  const stack = await startScriptedStack(t, { CACHE_MAX_ENTRIES: '2', CACHE_MAX_ENTRY_BYTES: '200' })
  const [alice] = stack.logins
  for (const path of ['/api/v1/tasks?a', '/api/v1/tasks?b', '/api/v1/tasks?c']) await stack.request(path, { as: alice })
  t.match((await stack.request('/api/v1/tasks?c', { as: alice })).headers['cache-status'], /hit/)
  t.match(
    (await stack.request('/api/v1/tasks?a', { as: alice })).headers['cache-status'],
    /fwd=uri-miss/,
    'the least recently used entry was evicted',
  )
  t.equal(await stack.metric('gatehouse_proxy_cache_entries'), 2, 'the entries gauge says so')

  stack.respond((request, response) => {
    response.writeHead(200, { 'cache-control': 's-maxage=60' })
    response.end('x'.repeat(201))
  })
  const large = await stack.request('/api/v1/projects', { as: alice })
  t.equal(large.body.length, 201)
  t.equal(large.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; detail=too-large')
})

t.test(
  'a shareable body larger than an entry, with no Content-Length, streams through whole and is not stored',
  async t => {
    const stack = await startScriptedStack(t, { CACHE_MAX_ENTRY_BYTES: '200' })
    const [alice] = stack.logins
    const chunks = ['a'.repeat(150), 'b'.repeat(150), 'c'.repeat(150)]
    stack.respond((_request, response) => {
      response.writeHead(200, { 'cache-control': 's-maxage=60', 'content-type': 'text/plain', etag: '"big"' })
      // Chunked: the size shows only as the body comes, past the bound in the middle of it.
      const next = (index: number): void => {
        if (index === chunks.length) {
          response.end()
          return
        }
        response.write(chunks[index], () => setTimeout(() => next(index + 1), 20))
      }
      next(0)
    })
    const large = await stack.request('/api/v1/projects', { as: alice })
    t.equal(large.status, 200)
    t.equal(large.body, chunks.join(''), 'every byte, in order: what was held before the bound, then the rest')
    t.equal(large.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; detail=too-large')
    const conditional = await stack.request('/api/v1/projects', { as: alice, headers: { 'if-none-match': '"big"' } })
    t.equal(conditional.status, 304, 'a matching validator is still answered here, the streamed body dropped')
    t.equal(conditional.body, '')
    t.equal(
      conditional.headers['cache-status'],
      'Gatehouse; fwd=uri-miss; fwd-status=200; detail=too-large',
      'nothing was stored',
    )
    t.equal(stack.seen.length, 2)
    t.equal(stack.seen[1]!.headers['if-none-match'], undefined, 'the upstream was asked for the full response')
  },
)

t.test('with Redis, proxies share entries and invalidations', async t => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379' }
  const first = await startScriptedStack(t, env)
  const second = await startScriptedStack(t, env, { logins: first.logins })
  const [alice] = first.logins
  await first.request('/api/v1/projects', { as: alice })
  const shared = await second.request('/api/v1/projects', { as: alice })
  t.match(shared.headers['cache-status'], /hit/, 'stored by one proxy, served by the other')
  t.equal(second.seen.length, 0)

  await second.request('/api/v1/projects', { as: alice, method: 'POST', body: '{}' })
  t.match(
    (await first.request('/api/v1/projects', { as: alice })).headers['cache-status'],
    /fwd=uri-miss/,
    'a write through one proxy invalidates the other',
  )
})

t.test('with Redis unreachable, the cache steps aside and requests are still served', async t => {
  const stack = await startScriptedStack(t, { REDIS_URL: 'redis://127.0.0.1:1' })
  const [alice] = stack.logins
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await stack.request('/api/v1/projects', { as: alice })
    t.equal(response.status, 200)
    t.equal(response.headers['cache-status'], 'Gatehouse; fwd=bypass; fwd-status=200; detail=store-unavailable')
  }
  t.equal(stack.seen.length, 2)
  t.ok((await stack.metric('gatehouse_proxy_redis_errors_total')) > 0)
})
