// Budgets in Redis: two proxy instances share one; with Redis unreachable the proxy keeps serving and
// counts locally (fail-open) or refuses with 503 (fail-closed); when Redis returns, it is used again.
// The shared Redis on 6379 is only read and written under fresh keys; the outage test runs its own
// throwaway redis-server.
import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { eventually, startEdgeStack, type EdgeStack, type Login } from '../../helpers/edge-stack.ts'
import { startRedisServer } from '../../helpers/service-processes.ts'

/** The same login on a second proxy: copy the credentials file and wait until it is accepted. */
async function shareLogin(from: EdgeStack, to: EdgeStack, login: Login): Promise<void> {
  writeFileSync(to.htpasswdFile, readFileSync(from.htpasswdFile))
  await eventually(
    async () => (await to.request('/api/v1/projects', { as: login })).status !== 401,
    5000,
    'the second proxy accepting the login',
  )
}

/** The value of an unlabelled gauge or counter. */
const metric = async (stack: EdgeStack, name: string): Promise<number> => {
  const values = (await stack.proxy.edgeMetrics.registry.getSingleMetric(name)?.get())?.values ?? []
  return values.reduce((sum, { value }) => sum + value, 0)
}

forEachBackend(t, async (t, backend) => {
  t.test('two proxies on one Redis share one budget', async t => {
    const env = { REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_FREE: '5' }
    const first = await startEdgeStack(t, backend, env)
    const second = await startEdgeStack(t, backend, env)
    const alice = await first.addLogin() // request 1
    await shareLogin(first, second, alice) // request 2 (the accepted probe)
    const remaining: string[] = []
    for (const stack of [first, second, first]) {
      const response = await stack.request('/api/v1/projects', { as: alice })
      t.equal(response.status, 200)
      remaining.push(String(response.headers['ratelimit-remaining']))
    }
    t.same(remaining, ['2', '1', '0'], 'one count across both instances')
    t.equal((await second.request('/api/v1/projects', { as: alice })).status, 429)
    t.equal((await first.request('/api/v1/projects', { as: alice, http2: false })).status, 429)
  })

  t.test(
    'Redis unreachable: fail-open serves and counts locally, and says so in metrics and once in the log',
    async t => {
      const stack = await startEdgeStack(
        t,
        backend,
        { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_FREE: '3' },
        { captureLogs: true },
      )
      const alice = await stack.addLogin() // 1 of 3, counted locally
      t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200)
      t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200)
      const limited = await stack.request('/api/v1/projects', { as: alice })
      t.equal(limited.status, 429, 'the local count still limits')
      t.equal(limited.headers['ratelimit-limit'], '3')
      t.equal(await metric(stack, 'gatehouse_proxy_redis_up'), 0)
      t.ok((await metric(stack, 'gatehouse_proxy_redis_errors_total')) >= 3)
      const outageLines = stack.logs.filter(line => line.msg === 'rate limit store unreachable')
      t.equal(outageLines.length, 1, 'one log line for the outage, not one per request')
    },
  )

  t.test('Redis unreachable with RATE_LIMIT_FAIL_OPEN=false: 503 problem+json', async t => {
    const stack = await startEdgeStack(t, backend, { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_FAIL_OPEN: 'false' })
    const alice = await stack.addLogin()
    for (const http2 of [true, false]) {
      const response = await stack.request('/api/v1/projects', { as: alice, http2 })
      t.equal(response.status, 503)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.equal(response.json().type, 'urn:gatehouse:problem:rate-limit-unavailable')
    }
  })

  t.test('when Redis comes back, the proxy uses it again by itself', async t => {
    const redis = await startRedisServer(t)
    const stack = await startEdgeStack(
      t,
      backend,
      { REDIS_URL: redis.url, RATE_LIMIT_FREE: '100' },
      { captureLogs: true },
    )
    const alice = await stack.addLogin()
    const { inspect } = redis
    const counted = async (): Promise<number> => {
      const keys = await inspect.keys(`gatehouse:rate-limit:*${alice.tenant.slug}*`).catch(() => [])
      return keys.length === 0 ? 0 : Number(await inspect.get(keys[0]!).catch(() => 0))
    }
    t.equal(await counted(), 1, 'the login probe was counted in Redis')

    await redis.kill()
    await eventually(
      async () => (await metric(stack, 'gatehouse_proxy_redis_up')) === 0,
      5000,
      'the outage being noticed',
    )
    for (let i = 0; i < 3; i++) {
      t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200, 'served during the outage')
    }

    await redis.start() // empty: no persistence
    await eventually(
      async () => (await metric(stack, 'gatehouse_proxy_redis_up')) === 1,
      8000,
      'the proxy reconnecting',
    )
    await eventually(
      async () => {
        t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200)
        return (await counted()) > 0
      },
      5000,
      'requests being counted in Redis again',
    )
    const messages = stack.logs.map(line => line.msg)
    t.ok(messages.includes('redis unreachable: serving with local fallbacks until it returns'))
    t.ok(
      messages.lastIndexOf('redis reachable: shared rate limits and cache in use') >
        messages.indexOf('redis unreachable: serving with local fallbacks until it returns'),
      'the recovery is logged after the outage',
    )
  })
})
