// A tenant's own hostnames over REST and GraphQL: one service, validated names, unique across tenants,
// isolated by row-level security.
import t from 'tap'
import { forEachBackend, uniqueSlug } from '../../../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../../../helpers/build-app.ts'
import { MAX_DOMAINS_PER_TENANT } from '../../../../../server/services/domains.ts'

interface DomainBody {
  id: string
  hostname: string
  createdAt: string
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test('add, list and remove over REST; names stored lowercase and as punycode', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const name = `${uniqueSlug('api')}.Example.COM`
    const added = await caller.post('/api/v1/domains', { hostname: name })
    t.equal(added.statusCode, 201, added.body)
    const domain = added.json<DomainBody>()
    t.equal(domain.hostname, name.toLowerCase())
    t.equal(added.headers.location, `/api/v1/domains/${domain.hostname}`)
    const located = await caller.get(added.headers.location as string)
    t.equal(located.statusCode, 200, 'the Location of a claim answers')
    t.same(located.json<DomainBody>(), domain)
    const unicode = `${uniqueSlug('bücher')}.example`
    const idn = (await caller.post('/api/v1/domains', { hostname: unicode })).json<DomainBody>()
    t.match(idn.hostname, /^xn--/)

    const list = await caller.get('/api/v1/domains')
    t.equal(list.statusCode, 200)
    t.same(
      list.json<{ data: DomainBody[] }>().data.map(entry => entry.hostname),
      [domain.hostname, idn.hostname],
    )

    t.equal((await caller.delete(`/api/v1/domains/${name}`)).statusCode, 204, 'removed by any spelling of the name')
    t.equal((await caller.delete(`/api/v1/domains/${name}`)).statusCode, 404)
    t.equal((await caller.get(`/api/v1/domains/${domain.hostname}`)).statusCode, 404, 'gone once removed')
    const left = (await caller.get('/api/v1/domains')).json<{ data: DomainBody[] }>().data
    t.same(
      left.map(entry => entry.hostname),
      [idn.hostname],
    )
  })

  t.test('bad names are 400 problems that say why', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const bad = [
      ['*.acme.com', /wildcard/],
      ['10.0.0.1', /IP address/],
      ['printer.local', /local-only/],
      ['localhost', /two labels/],
      ['a..b.com', /label/],
    ] as const
    for (const [hostname, reason] of bad) {
      const response = await caller.post('/api/v1/domains', { hostname })
      t.equal(response.statusCode, 400, hostname)
      t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.match(response.json(), { code: 'GH_INVALID_INPUT', detail: reason }, hostname)
    }
    t.equal((await caller.post('/api/v1/domains', { hostname: 'a.example.com', extra: 1 })).statusCode, 400)
  })

  t.test("a name is one tenant's: another tenant gets 409, cannot see it, cannot remove it", async t => {
    const owner = callerFor(app, await backend.createTenant())
    const other = callerFor(app, await backend.createTenant())
    const hostname = `${uniqueSlug('shop')}.example.com`
    t.equal((await owner.post('/api/v1/domains', { hostname })).statusCode, 201)
    const taken = await other.post('/api/v1/domains', { hostname: hostname.toUpperCase() })
    t.equal(taken.statusCode, 409)
    t.match(taken.json(), { code: 'GH_CONFLICT', detail: /already claimed/ })
    t.same((await other.get('/api/v1/domains')).json(), { data: [] })
    t.equal((await other.delete(`/api/v1/domains/${hostname}`)).statusCode, 404)
    t.equal((await owner.get('/api/v1/domains')).json<{ data: DomainBody[] }>().data.length, 1, "still the owner's")
    // The database itself refuses the app role a look across tenants.
    const seen = await backend.asApp(session =>
      session.query('SELECT hostname FROM tenant_domains WHERE hostname = $1', [hostname]),
    )
    t.same(seen, [], 'RLS hides it without app.tenant_id')
  })

  t.test('a tenant has at most MAX_DOMAINS_PER_TENANT names', async t => {
    const tenant = await backend.createTenant()
    const caller = callerFor(app, tenant)
    const prefix = uniqueSlug('n')
    await backend.asOwner(async session => {
      await session.query("SELECT set_config('app.tenant_id', $1, FALSE)", [tenant.id])
      for (let index = 0; index < MAX_DOMAINS_PER_TENANT; index++) {
        await session.query('INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES (gen_random_uuid(), $1, $2)', [
          tenant.id,
          `${prefix}-${index}.example.com`,
        ])
      }
      await session.query("SELECT set_config('app.tenant_id', '', FALSE)")
    })
    const refused = await caller.post('/api/v1/domains', { hostname: `${prefix}-last.example.com` })
    t.equal(refused.statusCode, 409)
    t.match(refused.json(), { detail: /at most/ })
  })

  t.test('claims made at once never take a tenant past the cap', async t => {
    const tenant = await backend.createTenant()
    const caller = callerFor(app, tenant)
    const prefix = uniqueSlug('race')
    const room = 3
    await backend.asOwner(async session => {
      for (let index = 0; index < MAX_DOMAINS_PER_TENANT - room; index++) {
        await session.query('INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES (gen_random_uuid(), $1, $2)', [
          tenant.id,
          `${prefix}-${index}.example.com`,
        ])
      }
    })
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        caller.post('/api/v1/domains', { hostname: `${prefix}-new-${index}.example.com` }),
      ),
    )
    const statuses = claims.map(claim => claim.statusCode)
    t.equal(statuses.filter(status => status === 201).length, room, `${room} claims fit: ${statuses.join(' ')}`)
    t.equal(statuses.filter(status => status === 409).length, claims.length - room, 'the others are refused')
    const [row] = await backend.asOwner(session =>
      session.query<{ count: string }>('SELECT count(*) FROM tenant_domains WHERE tenant_id = $1', [tenant.id]),
    )
    t.equal(Number(row?.count), MAX_DOMAINS_PER_TENANT)
  })

  t.test('the same over GraphQL', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const hostname = `${uniqueSlug('gql')}.example.org`
    const added = await caller.graphql('mutation ($h: String!) { addDomain(hostname: $h) { hostname createdAt } }', {
      h: hostname,
    })
    t.equal(added.statusCode, 200, added.body)
    t.equal(added.json().data.addDomain.hostname, hostname)
    t.same((await caller.graphql('{ domains { hostname } }')).json().data, { domains: [{ hostname }] })
    const bad = await caller.graphql('mutation { addDomain(hostname: "*.example.org") { hostname } }')
    t.match(bad.json().errors[0], { message: /wildcard/, extensions: { code: 'GH_INVALID_INPUT' } })
    const removed = await caller.graphql('mutation ($h: String!) { removeDomain(hostname: $h) }', { h: hostname })
    t.same(removed.json().data, { removeDomain: true })
    t.same((await caller.graphql('{ domains { hostname } }')).json().data, { domains: [] })
  })

  t.test('the OpenAPI document lists the domain routes under their tag and hides the internal ones', async t => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    t.ok(spec.paths['/api/v1/domains']?.post, 'POST /api/v1/domains documented')
    t.same(spec.paths['/api/v1/domains'].get.tags, ['domains'])
    t.ok(spec.tags.some((tag: { name: string }) => tag.name === 'domains'))
    t.notOk(
      Object.keys(spec.paths).some(path => path.startsWith('/internal')),
      'no internal route in the document',
    )
  })
})
