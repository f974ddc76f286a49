// /internal/v1 answers the edge alone: signed with the internal key as the reserved edge identity. A tenant
// user's identity signed as the edge signs forwarded requests, a forged or stale signature, or none: 401.
import t from 'tap'
import { signIdentity } from '../../../../common/identity-signature.ts'
import { EDGE_IDENTITY, internalKey, signInternalRequest } from '../../../../common/internal-channel.ts'
import { forEachBackend, uniqueSlug } from '../../../helpers/backends.ts'
import { buildTestApp, callerFor, TEST_IDENTITY_SECRET } from '../../../helpers/build-app.ts'

const KEY = internalKey(TEST_IDENTITY_SECRET)

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)
  const asEdge = (url: string, now?: number) =>
    app.inject({ method: 'GET', url, headers: signInternalRequest(KEY, url, 'edge-1', now) })

  t.test("a tenant's stored plan, and null for no such tenant", async t => {
    const tenant = await backend.createTenant('pro')
    const known = await asEdge(`/internal/v1/tenants/${tenant.slug}`)
    t.equal(known.statusCode, 200, known.body)
    t.same(known.json(), { slug: tenant.slug, plan: 'pro' })
    t.equal(known.headers['cache-control'], 'no-store')
    await backend.asOwner(session => session.query("UPDATE tenants SET plan = 'enterprise' WHERE id = $1", [tenant.id]))
    t.same(
      (await asEdge(`/internal/v1/tenants/${tenant.slug}`)).json(),
      { slug: tenant.slug, plan: 'enterprise' },
      'a change shows at once',
    )
    const unknown = uniqueSlug('nobody')
    t.same((await asEdge(`/internal/v1/tenants/${unknown}`)).json(), { slug: unknown, plan: null })
  })

  t.test('who owns a hostname: the tenant, or null', async t => {
    const tenant = await backend.createTenant()
    const hostname = `${uniqueSlug('api')}.example.com`
    t.equal((await callerFor(app, tenant).post('/api/v1/domains', { hostname })).statusCode, 201)
    t.same((await asEdge(`/internal/v1/domains/${hostname}`)).json(), { hostname, tenant: tenant.slug })
    const upper = hostname.toUpperCase()
    t.same((await asEdge(`/internal/v1/domains/${upper}`)).json(), { hostname: upper, tenant: tenant.slug })
    const nobody = 'nobody.example.com'
    t.same((await asEdge(`/internal/v1/domains/${nobody}`)).json(), { hostname: nobody, tenant: null })
    t.same((await asEdge('/internal/v1/domains/127.0.0.1')).json(), { hostname: '127.0.0.1', tenant: null })
  })

  t.test("nothing but the edge's own signature opens these routes", async t => {
    const tenant = await backend.createTenant('pro')
    const url = `/internal/v1/tenants/${tenant.slug}`
    const request = { requestId: 'r', method: 'GET', url }
    const alice = { tenant: tenant.slug, user: 'alice', ...request }
    const refusals: Array<[string, Record<string, string>]> = [
      ['no signature', {}],
      // What the edge sends with a forwarded request of a real tenant user: valid for /api/v1, never here.
      ["a tenant user's identity", signIdentity(TEST_IDENTITY_SECRET, alice)],
      [
        'the edge identity signed with the identity secret',
        signIdentity(TEST_IDENTITY_SECRET, { ...EDGE_IDENTITY, ...request }),
      ],
      ['a tenant identity signed with the internal key', signIdentity(KEY, alice)],
      ['another secret', signInternalRequest(internalKey('x'.repeat(40)), url, 'r')],
      ['a stale signature', signInternalRequest(KEY, url, 'r', Date.now() - 10 * 60_000)],
      ['a signature for another URL', signInternalRequest(KEY, '/internal/v1/tenants/other', 'r')],
    ]
    for (const [what, headers] of refusals) {
      const response = await app.inject({ method: 'GET', url, headers })
      t.equal(response.statusCode, 401, what)
      t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8', what)
      t.match(response.json(), { status: 401, code: 'GH_UNAUTHENTICATED' }, what)
    }
  })

  t.test('the edge identity opens no tenant route', async t => {
    const url = '/api/v1/projects'
    const response = await app.inject({ method: 'GET', url, headers: signInternalRequest(KEY, url, 'r') })
    t.equal(response.statusCode, 401)
  })
})
