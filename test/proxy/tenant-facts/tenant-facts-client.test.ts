// The edge's client for tenant facts against the real API: signed lookups of plans and domain owners, `ask`
// for on-demand TLS, refusal without the shared secret, an upstream down skipped, the last good answer kept.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createTenantFactsClient } from '../../../proxy/tenant-facts/tenant-facts-client.ts'
import { forEachBackend, uniqueSlug } from '../../helpers/backends.ts'
import { buildTestApp, callerFor, TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'
import { eventually, freePort } from '../../helpers/edge-stack.ts'

const silent = { warn: () => {}, info: () => {} }

forEachBackend(t, async (t, backend) => {
  const api = await buildTestApp(t, backend)
  await api.listen({ host: '127.0.0.1', port: 0 })
  const apiUrl = new URL(`http://127.0.0.1:${(api.server.address() as { port: number }).port}`)
  const client = (secret = TEST_IDENTITY_SECRET, upstreams = [apiUrl]) => {
    const made = createTenantFactsClient({
      upstreams,
      identitySecret: secret,
      ttlMs: 5000,
      maxEntries: 1000,
      timeoutMs: 2000,
      log: silent,
    })
    t.teardown(() => made.close())
    return made
  }

  t.test('plans, domain owners and ask, as the API stores them', async t => {
    const facts = client()
    const tenant = await backend.createTenant('pro')
    const hostname = `${uniqueSlug('api')}.example.com`
    t.equal((await callerFor(api, tenant).post('/api/v1/domains', { hostname })).statusCode, 201)
    t.equal(await facts.plan(tenant.slug), 'pro')
    t.equal(await facts.plan(uniqueSlug('nobody')), null)
    t.equal(await facts.domainOwner(hostname), tenant.slug)
    t.equal(facts.domainOwnerNow(hostname), tenant.slug, 'then in memory')
    t.equal(await facts.domainOwner('unclaimed.example.com'), null)
    t.equal(await facts.ask(hostname), true)
    t.equal(await facts.ask(hostname.toUpperCase()), true, 'any spelling of the name')
    for (const name of ['unclaimed.example.com', '*.example.com', 'localhost', '10.0.0.1', 'a..b']) {
      t.equal(await facts.ask(name), false, name)
    }
  })

  t.test('without the shared secret the API answers 401: no answer, and ask says no', async t => {
    const facts = client('another-secret-that-is-at-least-32-characters')
    const tenant = await backend.createTenant('pro')
    await t.rejects(facts.plan(tenant.slug), /answered 401/)
    t.equal(await facts.ask('anything.example.com'), false)
  })

  t.test('an upstream that is down is skipped', async t => {
    const dead = new URL(`http://127.0.0.1:${await freePort()}`)
    const facts = client(TEST_IDENTITY_SECRET, [dead, apiUrl])
    const tenant = await backend.createTenant('enterprise')
    t.equal(await facts.plan(tenant.slug), 'enterprise')
  })
})

t.test('a failed refresh keeps the last good answer; a wrong shape is no answer', async t => {
  let time = 1_000_000 // lru-cache treats a start time of 0 as none
  let mode: 'good' | 'down' | 'odd' = 'good'
  // Not startHttpStub: that one refuses the internal lookups this stub is here to answer.
  const server = createServer((_request, response) => {
    if (mode === 'down') {
      response.writeHead(503).end()
      return
    }
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(mode === 'good' ? JSON.stringify({ slug: 'acme', plan: 'pro' }) : JSON.stringify({ plan: 'platinum' }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const stub = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const warnings: string[] = []
  const facts = createTenantFactsClient({
    upstreams: [new URL(stub)],
    identitySecret: TEST_IDENTITY_SECRET,
    ttlMs: 5000,
    maxEntries: 100,
    timeoutMs: 2000,
    log: {
      warn: (_object, message) => {
        warnings.push(message)
      },
      info: (_object, message) => {
        warnings.push(message)
      },
    },
    clock: { now: () => time },
  })
  t.teardown(() => facts.close())
  t.equal(await facts.plan('acme'), 'pro')
  mode = 'down'
  time += 6000
  t.equal(await facts.plan('acme'), 'pro', 'stale, refreshing')
  await eventually(async () => warnings.length > 0, 5000, 'the refresh failed')
  t.equal(await facts.plan('acme'), 'pro', 'the refresh failed: kept')
  t.match(warnings, [/could not learn tenant facts from the API/], 'one warning for the outage')
  mode = 'odd'
  await t.rejects(facts.plan('other'), /unknown shape/)
})
