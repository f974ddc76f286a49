// Request budgets at the edge, through real TLS against the real API: per login once authenticated,
// sized by the tenant's plan, per address before authentication; a refused request is a 429
// problem+json with the IETF RateLimit-* headers and Retry-After. (Redis-backed budgets: the -redis file.)
import t, { type Test } from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { startEdgeStack, type EdgeResponse } from '../../helpers/edge-stack.ts'

function assertLimited(t: Test, response: EdgeResponse, limit: number): void {
  t.equal(response.status, 429)
  t.match(response.headers['content-type'], /^application\/problem\+json/)
  t.equal(response.json().type, 'urn:gatehouse:problem:rate-limited')
  t.equal(response.headers['ratelimit-limit'], String(limit))
  t.equal(response.headers['ratelimit-remaining'], '0')
  const reset = Number(response.headers['ratelimit-reset'])
  t.ok(reset >= 1 && reset <= 60, `RateLimit-Reset ${reset} is within the window`)
  t.equal(response.headers['retry-after'], response.headers['ratelimit-reset'], 'Retry-After says the same')
}

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend, {
    RATE_LIMIT_FREE: '3',
    RATE_LIMIT_PRO: '6',
    RATE_LIMIT_ANONYMOUS: '2',
  })

  t.test('the request after the budget gets 429 with RateLimit-* and Retry-After', async t => {
    const alice = await stack.addLogin('alice', 'free') // its probe spent request 1 of 3
    const second = await stack.request('/api/v1/projects', { as: alice })
    t.equal(second.status, 200)
    t.equal(second.headers['ratelimit-limit'], '3')
    t.equal(second.headers['ratelimit-remaining'], '1')
    t.equal((await stack.request('/api/v1/projects', { as: alice, http2: false })).status, 200)
    const fourth = await stack.request('/api/v1/projects', { as: alice })
    assertLimited(t, fourth, 3)
    assertLimited(
      t,
      await stack.request('/api/v1/projects', { as: alice, http2: false, method: 'POST', body: '{"name":"no"}' }),
      3,
    )
    const rows = await backend.asOwner(session =>
      session.query('SELECT 1 FROM projects WHERE tenant_id = $1', [alice.tenant.id]),
    )
    t.same(rows, [], 'a refused write never reached the API')
  })

  t.test('budgets are per login and sized by the tenant plan', async t => {
    const free = await stack.addLogin('erin', 'free')
    const colleague = await stack.addLogin('frank', 'free')
    const pro = await stack.addLogin('grace', 'pro')
    for (let i = 0; i < 2; i++) t.equal((await stack.request('/api/v1/projects', { as: free })).status, 200)
    t.equal((await stack.request('/api/v1/projects', { as: free })).status, 429)
    t.equal(
      (await stack.request('/api/v1/projects', { as: colleague })).status,
      200,
      'another login keeps its own budget',
    )

    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await stack.request('/api/v1/projects', { as: pro })).status)
    t.same(statuses, [200, 200, 200, 200, 200, 429], 'a pro tenant gets 6, the login probe having spent one')
    const limited = await stack.request('/api/v1/projects', { as: pro })
    assertLimited(t, limited, 6)
  })

  t.test('before authentication, requests are budgeted per client address', async t => {
    const address = '127.0.0.4'
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      statuses.push((await stack.request('/api/v1/projects', { localAddress: address })).status)
    }
    t.same(statuses, [401, 401, 429])
    const limited = await stack.request('/api/v1/projects', { localAddress: address, http2: false })
    assertLimited(t, limited, 2)
    t.equal(
      (await stack.request('/api/v1/projects', { localAddress: '127.0.0.5' })).status,
      401,
      'another address has its own budget',
    )
    // The budget is for unauthenticated requests: a login from the same address still gets in.
    const henry = await stack.addLogin('henry', 'enterprise')
    t.equal((await stack.request('/api/v1/projects', { as: henry, localAddress: address })).status, 200)
  })

  t.test("the proxy's own health check is never budgeted", async t => {
    for (let i = 0; i < 5; i++) t.equal((await stack.request('/health', { localAddress: '127.0.0.6' })).status, 200)
  })
})
