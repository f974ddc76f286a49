// What the API learns about a caller comes only from the edge: whatever identity, forwarding or
// credential headers a client sends are dropped, the signed identity of the authenticated login is
// added, X-Request-Id survives when sane, and the client's W3C trace continues with a new span.
import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { verifyIdentity } from '../../../common/identity-signature.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'
import { startEdgeStack, startHttpStub } from '../../helpers/edge-stack.ts'

const SPOOFED = {
  'x-gatehouse-tenant': 'victim',
  'x-gatehouse-user': 'root',
  'x-gatehouse-timestamp': '1',
  'x-gatehouse-signature': 'v1=forged',
  'x-forwarded-for': '203.0.113.9',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'http',
  forwarded: 'for=203.0.113.9',
  'x-real-ip': '203.0.113.9',
  'proxy-authorization': 'Basic c3B5OnNweQ==',
}

forEachBackend(t, async (t, backend) => {
  t.test('the upstream sees the signed identity of the login and none of the spoofed headers', async t => {
    const seen: Array<{ url: string; method: string; headers: IncomingHttpHeaders }> = []
    const stub = await startHttpStub(t, (request, response) => {
      seen.push({ url: request.url!, method: request.method!, headers: request.headers })
      response
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end('{"data":[],"next":null}')
    })
    const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub })
    const alice = await stack.addLogin('alice')

    for (const http2 of [true, false]) {
      seen.length = 0
      const response = await stack.request('/api/v1/projects?limit=2', { as: alice, http2, headers: SPOOFED })
      t.equal(response.status, 200)
      t.equal(seen.length, 1)
      const { headers, url, method } = seen[0]!
      t.equal(headers['x-gatehouse-tenant'], alice.tenant.slug)
      t.equal(headers['x-gatehouse-user'], 'alice')
      t.notOk(headers.authorization, 'the client credentials stay at the edge')
      t.notOk(headers['proxy-authorization'])
      t.notOk(headers.forwarded)
      t.notOk(headers['x-real-ip'])
      t.equal(headers['x-forwarded-for'], '127.0.0.1', 'the socket address, not the claimed one')
      t.equal(headers['x-forwarded-proto'], 'https')
      t.not(headers['x-forwarded-host'], 'evil.example')
      // The signature the API checks verifies over exactly what was forwarded.
      const verified = verifyIdentity(TEST_IDENTITY_SECRET, { method, url, headers }, 60)
      t.match(verified, { ok: true, identity: { tenant: alice.tenant.slug, user: 'alice' } })
    }
  })

  t.test('a client claiming another tenant still only sees its own data from the real API', async t => {
    const stack = await startEdgeStack(t, backend)
    const alice = await stack.addLogin('alice')
    const victim = await stack.addLogin('bob')
    const secret = await stack.request('/api/v1/projects', {
      as: victim,
      method: 'POST',
      body: JSON.stringify({ name: 'Victim secret' }),
    })
    t.equal(secret.status, 201)

    const headers = { ...SPOOFED, 'x-gatehouse-tenant': victim.tenant.slug, 'x-gatehouse-user': 'bob' }
    const list = await stack.request('/api/v1/projects', { as: alice, headers })
    t.equal(list.status, 200)
    t.same(list.json().data, [], "alice sees none of the victim's projects")
    const direct = await stack.request(`/api/v1/projects/${secret.json().id}`, { as: alice, headers, http2: false })
    t.equal(direct.status, 404)
    const created = await stack.request('/api/v1/projects', {
      as: alice,
      headers,
      method: 'POST',
      body: JSON.stringify({ name: 'Planted' }),
    })
    t.equal(created.status, 201)
    const owner = await backend.asOwner(session =>
      session.query<{ tenant_id: string }>('SELECT tenant_id FROM projects WHERE id = $1', [created.json().id]),
    )
    t.same(owner, [{ tenant_id: alice.tenant.id }], "a write lands in the login's own tenant")
  })

  t.test('X-Request-Id is kept when valid, replaced when not; traceparent continues the trace', async t => {
    const seen: IncomingHttpHeaders[] = []
    const stub = await startHttpStub(t, (request, response) => {
      seen.push(request.headers)
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
    })
    const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub })
    const alice = await stack.addLogin()

    seen.length = 0
    const kept = await stack.request('/api/v1/projects', { as: alice, headers: { 'x-request-id': 'client-req.42:a' } })
    t.equal(kept.headers['x-request-id'], 'client-req.42:a')
    t.equal(seen[0]!['x-request-id'], 'client-req.42:a')

    for (const bad of ['has spaces in it', 'x'.repeat(129), 'semi;colon']) {
      seen.length = 0
      const replaced = await stack.request('/api/v1/projects', { as: alice, headers: { 'x-request-id': bad } })
      const id = replaced.headers['x-request-id'] as string
      t.not(id, bad)
      t.match(id, /^[0-9a-f-]{36}$/, 'a fresh UUID instead')
      t.equal(seen[0]!['x-request-id'], id, 'the API logs the same id the client got back')
    }

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const clientSpan = '00f067aa0ba902b7'
    seen.length = 0
    await stack.request('/api/v1/projects', {
      as: alice,
      headers: { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=1' },
    })
    const [version, upstreamTrace, upstreamSpan, flags] = String(seen[0]!.traceparent).split('-')
    t.equal(version, '00')
    t.equal(upstreamTrace, traceId, 'same trace')
    t.match(upstreamSpan, /^[0-9a-f]{16}$/)
    t.not(upstreamSpan, clientSpan, 'a new span of the edge')
    t.equal(flags, '01')
    t.equal(seen[0]!.tracestate, 'vendor=1')

    seen.length = 0
    await stack.request('/api/v1/projects', { as: alice, headers: { traceparent: 'garbage' } })
    t.match(seen[0]!.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'a malformed one starts a new trace')
  })
})
