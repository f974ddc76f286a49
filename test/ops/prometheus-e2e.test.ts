// The monitoring shows what really happens: the real Prometheus, loading ops/prometheus/prometheus.yml and
// its rules, scrapes the real proxy and API while traffic goes through them, and then every recording rule,
// every Grafana panel query and every dashboard variable returns data, and every alert evaluates without
// error over series that exist. What cannot return data here is listed with its reason, and the lists are
// checked against the configs so they cannot grow quietly.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../server/app.ts'
import { buildMetricsServer } from '../../proxy/servers.ts'
import { pgliteBackend, type Backend } from '../helpers/backends.ts'
import { testConfig } from '../helpers/build-app.ts'
import { eventually, freePort, startEdgeStack, type EdgeStack, type Login } from '../helpers/edge-stack.ts'
import { startPrometheus, type PrometheusServer, type QueryResult } from './fixtures/prometheus-server.ts'
import {
  DASHBOARDS,
  EXTERNAL_METRICS,
  metricNames,
  panelExpressions,
  readDashboard,
  ruleGroups,
} from './ops-helpers.ts'

t.setTimeout(90_000)

/** Jobs of prometheus.yml with nothing to scrape here. */
const DROPPED_JOBS: Record<string, string> = {
  alertmanager: 'no Alertmanager runs in this test; no rule or panel reads its metrics',
  postgres: 'postgres-exporter does not run here (the API uses embedded PGlite)',
  redis: 'redis-exporter does not run here (the proxy runs without REDIS_URL)',
}

// Series nothing here exports: the exporters do not run, and this proxy has no ACME_EMAIL.
const EXPORTER_METRICS = Object.keys(EXTERNAL_METRICS).filter(name =>
  /^((postgres|redis)-exporter|proxy with ACME):/.test(EXTERNAL_METRICS[name]!),
)

/** Queries that read exporter metrics (or the ACME proxy's): evaluated, but no data is expected. */
const NEEDS_EXPORTER: Record<string, string> = {
  'alerts.yml CertificateExpiringSoon': 'gatehouse_proxy_certificate_expiry_seconds (a proxy with ACME_EMAIL)',
  'alerts.yml PostgresDown': 'pg_up (postgres-exporter)',
  'api.json panel 7 "Postgres connections" A': 'pg_stat_database_numbackends (postgres-exporter)',
  'api.json panel 7 "Postgres connections" B': 'pg_settings_max_connections (postgres-exporter)',
}

/** Panels with data only while an alert fires: every alert waits (for: 1m to 15m) longer than this test runs. */
const NEEDS_FIRING_ALERT: Record<string, string> = {
  'overview.json panel 8 "Firing alerts" A':
    'ALERTS{alertstate="firing"}: the down replica makes ServiceDown pending, not firing',
}

/** A panel query as Grafana sends it: "All" for the variables, fixed steps for the interval macros. */
const asGrafanaSends = (expr: string): string =>
  expr
    .replace(/\$\{?__rate_interval\}?/g, '1m')
    .replace(/\$\{?__interval\}?/g, '15s')
    .replace(/\$\{?__range\}?/g, '5m')
    .replace(/\$\{?(instance|tenant|service|job)\}?/g, '.+')

const hasFiniteValue = (result: QueryResult): boolean =>
  result.status === 'success' && (result.data?.result ?? []).some(sample => Number.isFinite(Number(sample.value[1])))

const describe = (result: QueryResult): string =>
  result.status === 'success'
    ? `${result.data!.result.length} series: ${JSON.stringify(result.data!.result.slice(0, 3).map(s => s.value[1]))}`
    : `error: ${result.error}`

async function startApi(port: number, backend: Backend): Promise<FastifyInstance> {
  const api = await buildApp(testConfig(backend), { database: backend.database })
  await api.listen({ host: '127.0.0.1', port })
  return api
}

/** Waits until Prometheus holds a scrape of every listed target that started after `since` (ms). */
async function scrapedAfter(prometheus: PrometheusServer, instances: string[], since: number): Promise<void> {
  await eventually(
    async () => {
      // timestamp() of a plain selector is the scrape's time (of any other expression, the query's).
      const result = await prometheus.query('timestamp(up) and up == 1')
      const times = new Map(
        (result.data?.result ?? []).map(sample => [sample.metric.instance!, Number(sample.value[1]) * 1000]),
      )
      return instances.every(instance => (times.get(instance) ?? 0) > since)
    },
    15_000,
    `a scrape of ${instances.join(', ')}`,
  )
}

// A trigger fault: inserting a project with this name fails in the database as an unexpected error would.
const FAULTY_NAME = 'e2e: the database refuses this row'

interface Traffic {
  stack: EdgeStack
  alice: Login
  bob: Login
  round: number
}

/** One round of what users do through the edge; each status is asserted, so the traffic is what we think. */
async function driveTraffic(t: Test, { stack, alice, bob, round }: Traffic): Promise<void> {
  for (let i = 0; i < 3; i++) {
    t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200, 'a cache miss, then hits')
  }
  t.equal((await stack.request('/api/v1/projects', { as: alice, http2: false })).status, 200, 'over HTTP/1.1 too')
  const created = await stack.request('/api/v1/projects', {
    as: alice,
    method: 'POST',
    body: JSON.stringify({ name: `round ${round}` }),
  })
  t.equal(created.status, 201, 'a write')
  const failed = await stack.request('/api/v1/projects', {
    as: alice,
    method: 'POST',
    body: JSON.stringify({ name: FAULTY_NAME }),
  })
  t.equal(failed.status, 500, 'a database fault is a 5xx at the API and the edge')
  const graphql = await stack.request('/graphql', {
    as: alice,
    method: 'POST',
    body: JSON.stringify({ query: '{ projects(first: 5) { nodes { id name } } }' }),
  })
  t.equal(graphql.status, 200, 'GraphQL')
  t.notOk(graphql.json().errors, 'GraphQL answered without errors')
  t.equal(
    (await stack.request('/api/v1/projects', { as: { ...alice, password: 'wrong' } })).status,
    401,
    'a failed login',
  )
  let limited = 0
  for (let i = 0; i < 5 && limited === 0; i++) {
    if ((await stack.request('/api/v1/projects', { as: bob })).status === 429) limited++
  }
  t.equal(limited, 1, 'the free plan (3 a minute) is rate limited')
}

t.test('Prometheus with the project config sees data for every rule, alert and panel', async t => {
  const backend = await pgliteBackend()
  t.teardown(() => backend.close())
  await backend.asOwner(session =>
    session.exec(`
    CREATE FUNCTION e2e_refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;
    CREATE TRIGGER e2e_refuse_row BEFORE INSERT ON projects FOR EACH ROW
      WHEN (NEW.name = '${FAULTY_NAME.replace(/'/g, "''")}') EXECUTE FUNCTION e2e_refuse_row();`),
  )

  // Two API replicas as in compose.yaml; the second one never starts: a replica that is down.
  const apiPorts = [await freePort(), await freePort()]
  const apiInstances = apiPorts.map(port => `127.0.0.1:${port}`)
  // startEdgeStack's own API stays idle: the proxy forwards to the two replicas above.
  const stack = await startEdgeStack(t, backend, {
    UPSTREAM_URLS: apiInstances.map(instance => `http://${instance}`).join(','),
    UPSTREAM_HEALTH_INTERVAL_MS: '200',
    RATE_LIMIT_FREE: '3',
    // Plans are learnt from these replicas, down at first: the edge counts a tenant as free until it can ask, and
    // asks again after this long, so alice's pro plan applies once the first replica is up.
    TENANT_FACTS_TTL_SECONDS: '1',
  })
  const metricsServer = buildMetricsServer(stack.proxy.edgeMetrics.registry, {
    timeouts: stack.proxyConfig.clientTimeouts,
  })
  await metricsServer.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => metricsServer.close())
  const proxyInstance = `127.0.0.1:${(metricsServer.server.address() as { port: number }).port}`

  const prometheus = await startPrometheus(t, { prometheus: 'self', proxy: [proxyInstance], api: apiInstances })
  t.strictSame(
    prometheus.droppedJobs.sort(),
    Object.keys(DROPPED_JOBS).sort(),
    'only the jobs without a service here are left out',
  )

  // Once the API has answered (the edge then knows it is not merely starting), no replica up is a 502: the
  // upstream failure and 5xx series of the proxy. One more after a scrape makes the failure rate more than a baseline.
  const alice = await stack.addLogin('alice', 'pro')
  const bob = await stack.addLogin('bob', 'free')
  const first = await startApi(apiPorts[0]!, backend)
  await eventually(
    async () => (await stack.request('/api/v1/projects', { as: alice })).status === 200,
    10_000,
    'the API answered once',
  )
  await first.close()
  await scrapedAfter(prometheus, [proxyInstance], Date.now())
  t.equal(
    (await stack.request('/api/v1/projects', { as: alice, headers: { 'cache-control': 'no-store' } })).status,
    502,
    'no API instance: 502 (past the cache)',
  )

  const api = await startApi(apiPorts[0]!, backend)
  t.teardown(() => api.close())
  await eventually(
    async () => {
      const states = new Map(
        (await stack.proxy.edgeMetrics.upstreamUp.get()).values.map(v => [v.labels.upstream, v.value]),
      )
      return states.get(`http://${apiInstances[0]}`) === 1 && states.get(`http://${apiInstances[1]}`) === 0
    },
    10_000,
    'the down replica taken out of rotation',
  )

  // alice's pro plan is learnt from the replicas, down for most of the time so far: until the edge has asked again
  // and heard, it counts her as free (3 a minute), and round 1's first requests were refused 429 when its last
  // answer was still the stale one (twice in CI). Wait until the edge applies her plan.
  const proBudget = String(stack.proxyConfig.rateLimit.perPlan.pro)
  await eventually(
    async () => (await stack.request('/api/v1/projects', { as: alice })).headers['ratelimit-limit'] === proBudget,
    10_000,
    "alice's pro plan applied at the edge",
  )

  // Two rounds with a scrape after each: a counter's first sample is only its baseline, so rates need
  // an increase between two scrapes.
  const scraped = [proxyInstance, apiInstances[0]!]
  await scrapedAfter(prometheus, scraped, Date.now())
  for (const round of [1, 2]) {
    await t.test(`traffic, round ${round}`, t => driveTraffic(t, { stack, alice, bob, round }))
    await scrapedAfter(prometheus, scraped, Date.now())
  }
  const trafficDone = Date.now()
  await eventually(
    async () => (await prometheus.ruleGroups()).every(group => Date.parse(group.lastEvaluation) > trafficDone),
    10_000,
    'every rule group evaluated after the last scrape',
  )

  t.test('every rule evaluates without error in Prometheus itself', async t => {
    const groups = await prometheus.ruleGroups()
    const loaded = groups.flatMap(group => group.rules.map(rule => rule.name)).sort()
    const configured = [...ruleGroups('recording.yml'), ...ruleGroups('alerts.yml')]
      .flatMap(group => group.rules.map(rule => rule.record ?? rule.alert!))
      .sort()
    t.strictSame(loaded, configured, 'every configured rule is loaded')
    for (const rule of groups.flatMap(group => group.rules)) {
      t.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? 'healthy'}`)
    }
  })

  // Every query must return data (at least one finite value); polled a little, as rules lag a scrape.
  const expectations = [
    ...ruleGroups('recording.yml').flatMap(group =>
      group.rules.map(rule => ({ where: `recording.yml ${rule.record!}`, expr: rule.record! })),
    ),
    ...panelExpressions().map(({ where, expr }) => ({ where, expr: asGrafanaSends(expr) })),
    ...DASHBOARDS.flatMap(name =>
      readDashboard(name)
        .templating.list.filter(variable => variable.type === 'query')
        .map(variable => {
          const query =
            typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query
          const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(query) ?? []
          return {
            where: `${name}.json variable $${variable.name}`,
            expr: selector === undefined ? query : `count by (${label}) (${selector})`,
          }
        }),
    ),
  ]
  const exempt = (where: string): boolean => where in NEEDS_EXPORTER || where in NEEDS_FIRING_ALERT
  const results = new Map<string, QueryResult>()
  const deadline = Date.now() + 15_000
  for (;;) {
    for (const { where, expr } of expectations) {
      if (!hasFiniteValue(results.get(where) ?? { status: 'error' })) results.set(where, await prometheus.query(expr))
    }
    if (
      Date.now() > deadline ||
      expectations.every(({ where }) => exempt(where) || hasFiniteValue(results.get(where)!))
    ) {
      break
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }

  t.test('every recording rule, panel query and dashboard variable returns data', async t => {
    for (const { where, expr } of expectations) {
      const result = results.get(where)!
      t.notMatch(expr, /\$/, `${where}: every Grafana variable substituted`)
      t.equal(result.status, 'success', `${where}: evaluates (${result.error ?? 'ok'})`)
      if (!exempt(where)) t.ok(hasFiniteValue(result), `${where}: returns data (${describe(result)})`)
    }
  })

  t.test('the exempt lists are exactly the queries that read exporters or firing alerts', async t => {
    const alerts = ruleGroups('alerts.yml').flatMap(group =>
      group.rules.map(rule => ({ where: `alerts.yml ${rule.alert!}`, expr: rule.expr })),
    )
    const readsExporter = [...alerts, ...expectations].filter(({ expr }) =>
      metricNames(expr).some(name => EXPORTER_METRICS.includes(name)),
    )
    t.strictSame(readsExporter.map(({ where }) => where).sort(), Object.keys(NEEDS_EXPORTER).sort())
    const readsFiring = expectations.filter(({ expr }) => /ALERTS\{[^}]*alertstate="firing"/.test(expr))
    t.strictSame(
      readsFiring.map(({ where }) => where),
      Object.keys(NEEDS_FIRING_ALERT),
    )
    const pending = await prometheus.query(
      `ALERTS{alertname="ServiceDown", alertstate="pending", instance="${apiInstances[1]}"}`,
    )
    t.equal(pending.data?.result.length, 1, 'the ALERTS series exists: the down replica makes ServiceDown pending')
  })

  t.test('every alert expression evaluates, over series that exist', async t => {
    for (const rule of ruleGroups('alerts.yml').flatMap(group => group.rules)) {
      const result = await prometheus.query(rule.expr)
      t.equal(result.status, 'success', `${rule.alert}: evaluates (${result.error ?? 'ok'})`)
      for (const name of metricNames(rule.expr).filter(name => !EXPORTER_METRICS.includes(name))) {
        const count = await prometheus.query(`count(${name})`)
        t.ok(hasFiniteValue(count), `${rule.alert}: ${name} has series`)
      }
    }
    const down = await prometheus.query(
      ruleGroups('alerts.yml')[0]!.rules.find(rule => rule.alert === 'ServiceDown')!.expr,
    )
    t.strictSame(
      down.data?.result.map(sample => sample.metric.instance),
      [apiInstances[1]],
      'ServiceDown sees exactly the replica that is down',
    )
  })
})
