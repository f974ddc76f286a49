// /metrics: Prometheus text with route latency (fastify-metrics), process metrics and database latency by
// Prisma model and operation. It is an internal endpoint: it needs no identity, and the edge proxy never
// forwards it (proxy/app.ts forwards only the public surface), so only the network reaches it.
import t from 'tap'
import { buildApp } from '../../../server/app.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor, testConfig } from '../../helpers/build-app.ts'

/** The value of one sample line, e.g. `name{a="b"} 3`, or undefined when the series does not exist. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const close = line.lastIndexOf('}')
    const found = Object.fromEntries(
      [...line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)].map(m => [m[1], m[2]]),
    )
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) {
      return Number(line.slice(close + 1).trim())
    }
  }
  return undefined
}

forEachBackend(t, async (t, backend) => {
  t.test('is Prometheus text, needs no identity, and counts routes and database operations', async t => {
    const app = await buildTestApp(t, backend)
    const alice = callerFor(app, await backend.createTenant())
    t.equal((await alice.post('/api/v1/projects', { name: 'Metered' })).statusCode, 201)
    t.equal((await alice.get('/api/v1/projects')).statusCode, 200)
    t.equal((await alice.get('/api/v1/projects')).statusCode, 200)

    const response = await app.inject({ method: 'GET', url: '/metrics' })
    t.equal(response.statusCode, 200)
    t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    const text = response.body

    t.match(text, /^# TYPE process_cpu_seconds_total counter$/m, 'process metrics are collected')
    t.equal(
      sample(text, 'http_request_duration_seconds_count', {
        method: 'GET',
        route: '/api/v1/projects',
        status_code: '200',
      }),
      2,
      'route latency is labelled by route pattern and status',
    )
    t.equal(
      sample(text, 'http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/v1/projects',
        status_code: '201',
      }),
      1,
    )

    // Each GET lists projects once: two findMany on Project; the tenant lookup is cached after the first request.
    t.equal(
      sample(text, 'gatehouse_db_query_duration_seconds_count', {
        model: 'Project',
        operation: 'findMany',
        outcome: 'ok',
      }),
      2,
    )
    t.equal(
      sample(text, 'gatehouse_db_query_duration_seconds_count', {
        model: 'Project',
        operation: 'create',
        outcome: 'ok',
      }),
      1,
    )
    t.equal(
      sample(text, 'gatehouse_db_query_duration_seconds_count', {
        model: 'Tenant',
        operation: 'findUnique',
        outcome: 'ok',
      }),
      1,
    )
    const sum = sample(text, 'gatehouse_db_query_duration_seconds_sum', {
      model: 'Project',
      operation: 'findMany',
      outcome: 'ok',
    })
    t.ok(sum !== undefined && sum > 0 && sum < 10, 'the duration is in seconds')
  })

  t.test('requests to unknown URLs do not create series (a scanner cannot blow up cardinality)', async t => {
    const app = await buildTestApp(t, backend)
    for (let i = 0; i < 3; i++) {
      t.equal((await app.inject({ method: 'GET', url: `/wp-admin/probe-${i}.php` })).statusCode, 404)
    }
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    t.notMatch(text, /wp-admin/)
  })

  t.test('two apps in one process keep separate registries', async t => {
    const first = await buildTestApp(t, backend)
    const second = await buildApp(testConfig(backend), { database: backend.database })
    t.teardown(() => second.close())
    await second.ready()
    const alice = callerFor(first, await backend.createTenant())
    t.equal((await alice.get('/api/v1/projects')).statusCode, 200)
    const mine = (await first.inject({ method: 'GET', url: '/metrics' })).body
    const theirs = (await second.inject({ method: 'GET', url: '/metrics' })).body
    t.equal(
      sample(mine, 'gatehouse_db_query_duration_seconds_count', {
        model: 'Project',
        operation: 'findMany',
        outcome: 'ok',
      }),
      1,
    )
    t.equal(
      sample(theirs, 'gatehouse_db_query_duration_seconds_count', {
        model: 'Project',
        operation: 'findMany',
        outcome: 'ok',
      }),
      undefined,
    )
  })
})
