// One source for a tenant's plan: the edge applies the plan stored with the tenant, learnt from the API, and a
// change (npm run tenant:plan on Postgres) shows in RateLimit-Limit within 10 s, without a restart, the window's
// count kept. TENANT_PLANS, when it names the tenant, overrides.
import t from 'tap'
import { forEachBackend, uniqueSlug } from '../../helpers/backends.ts'
import { startEdgeStack, type EdgeStack, type Login } from '../../helpers/edge-stack.ts'
import { runScript } from '../../scripts/run-script.ts'

const LIMITS = { RATE_LIMIT_FREE: '300', RATE_LIMIT_PRO: '1200', RATE_LIMIT_ENTERPRISE: '6000' }
// The edge learns a change when its cached facts expire: 1 s here, not the default 5 s (config.test.ts holds that
// default), so the test waits for the refresh itself rather than for the clock.
const FACTS_TTL = { TENANT_FACTS_TTL_SECONDS: '1' }

const limitSeen = async (stack: EdgeStack, login: Login): Promise<{ limit: string; remaining: number }> => {
  const response = await stack.request('/api/v1/projects?limit=1', { as: login })
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status}: ${response.body}`)
  const { 'ratelimit-limit': limit, 'ratelimit-remaining': remaining } = response.headers
  return { limit: String(limit), remaining: Number(remaining) }
}

forEachBackend(t, async (t, backend) => {
  const ownerUrl = backend.name === 'postgres' ? process.env.DATABASE_OWNER_URL! : undefined
  const stack = await startEdgeStack(t, backend, { ...LIMITS, ...FACTS_TTL })

  t.test('the stored plan sets the budget; a change takes effect within 10 s, the count kept', async t => {
    const login = await stack.addLogin('alice', 'free')
    const before = await limitSeen(stack, login)
    t.equal(before.limit, '300', 'free as stored')
    const changedAt = Date.now()
    if (ownerUrl !== undefined) {
      const result = await runScript('tenant-plan', [login.tenant.slug, 'pro'], { DATABASE_OWNER_URL: ownerUrl })
      t.equal(result.code, 0, result.stderr)
    } else {
      await backend.asOwner(session =>
        session.query("UPDATE tenants SET plan = 'pro' WHERE id = $1", [login.tenant.id]),
      )
    }
    let seen = before
    while (seen.limit !== '1200' && Date.now() - changedAt < 15_000) {
      await new Promise(resolve => setTimeout(resolve, 200))
      seen = await limitSeen(stack, login)
    }
    t.equal(seen.limit, '1200', 'pro at the edge, no restart')
    t.ok(Date.now() - changedAt < 10_000, `within 10 s (took ${Date.now() - changedAt} ms)`)
    t.ok(seen.remaining < 1200 - 1, `the window's requests still count (remaining ${seen.remaining})`)
  })

  const skip = ownerUrl === undefined && 'the script needs Postgres'
  t.test('a tenant added with --plan pro is pro at the edge from its first request', { skip }, async t => {
    const slug = uniqueSlug('added')
    const added = await runScript('tenant-add', [slug, '--plan', 'pro'], { DATABASE_OWNER_URL: ownerUrl! })
    t.equal(added.code, 0, added.stderr)
    const id = /with id ([0-9a-f-]{36})/.exec(added.stdout)![1]!
    const login = await stack.addLogin('bob', 'pro', { id, slug })
    t.equal((await limitSeen(stack, login)).limit, '1200')
  })

  t.test('TENANT_PLANS overrides the stored plan for the tenants it names', async t => {
    const login = await stack.addLogin('carol', 'free')
    stack.proxyConfig.rateLimit.tenantPlans.set(login.tenant.slug, 'enterprise')
    t.teardown(() => {
      stack.proxyConfig.rateLimit.tenantPlans.delete(login.tenant.slug)
    })
    t.equal((await limitSeen(stack, login)).limit, '6000')
  })
})
