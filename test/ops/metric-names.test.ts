// Every metric a recording rule, an alert or a Grafana panel reads really exists: the names are taken
// from the /metrics expositions of the real API and proxy after traffic through them, plus the recording
// rules and a short, explained list from Prometheus and the exporters. The label values the rules
// filter on (route="/ready", status codes, the proxy's route families) are checked the same way.
import t from 'tap'
import { forEachBackend } from '../helpers/backends.ts'
import { startEdgeStack } from '../helpers/edge-stack.ts'
import { EXTERNAL_METRICS, exposedNames, metricNames, panelExpressions, ruleGroups } from './ops-helpers.ts'

t.test('metricNames finds selectors, not functions, keywords or labels', async t => {
  t.same(
    metricNames(
      'sum by (job, le) (rate(http_request_duration_seconds_bucket{job=~"a|b", route!~"/x"}[5m])) / on (job) group_left foo:bar offset 1h > 0.5 * avg_over_time(baz[1d] offset 1h)',
    ).sort(),
    ['baz', 'foo:bar', 'http_request_duration_seconds_bucket'],
  )
  t.same(metricNames('1 - (up == 0) and ALERTS{alertstate="firing"}').sort(), ['ALERTS', 'up'])
})

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend)
  const login = await stack.addLogin()
  for (let i = 0; i < 3; i++) t.equal((await stack.request('/api/v1/projects', { as: login })).status, 200)
  t.equal((await stack.request('/api/v1/projects', { as: { ...login, password: 'wrong' } })).status, 401)
  t.equal((await stack.api.inject({ url: '/ready' })).statusCode, 200)

  const proxyText = await stack.proxy.edgeMetrics.registry.metrics()
  const apiText = (await stack.api.inject({ url: '/metrics' })).body
  const proxyNames = exposedNames(proxyText)
  const apiNames = exposedNames(apiText)
  const recorded = new Set(ruleGroups('recording.yml').flatMap(group => group.rules.map(rule => rule.record!)))
  const known = (name: string): boolean =>
    proxyNames.has(name) || apiNames.has(name) || recorded.has(name) || name in EXTERNAL_METRICS

  t.test('the expositions hold what the rules are built on', async t => {
    for (const names of [proxyNames, apiNames]) {
      t.ok(names.has('http_request_duration_seconds_bucket') && names.has('http_request_duration_seconds_count'))
      t.ok(
        names.has('process_cpu_seconds_total') &&
          names.has('process_resident_memory_bytes') &&
          names.has('nodejs_eventloop_lag_p99_seconds'),
      )
    }
    t.ok(apiNames.has('gatehouse_db_query_duration_seconds_bucket'))
    t.ok(proxyNames.has('gatehouse_proxy_cache_lookups_total') && proxyNames.has('gatehouse_proxy_redis_up'))
    // Label values the rules and alerts filter on, as the code writes them.
    t.match(
      apiText,
      /http_request_duration_seconds_count\{[^}]*route="\/ready"[^}]*status_code="200"[^}]*\} 1/,
      'API: route="/ready", status codes in full',
    )
    t.match(
      apiText,
      /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/projects",status_code="200"\}/,
      'API: route is the registered path',
    )
    t.match(
      proxyText,
      /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/projects",status_code="200"\} [1-9]/,
      'proxy: route families, full status codes',
    )
    t.match(
      proxyText,
      /gatehouse_proxy_cache_lookups_total\{outcome="hit"\} [1-9]/,
      'proxy: outcome="hit" is a cache outcome',
    )
    t.match(
      proxyText,
      /gatehouse_proxy_auth_failures_total\{tenant="[^"]+"\} [1-9]\d*/,
      'proxy: failed logins labelled by tenant',
    )
  })

  t.test('every name in the recording and alerting rules exists', async t => {
    for (const file of ['recording.yml', 'alerts.yml'] as const) {
      for (const rule of ruleGroups(file).flatMap(group => group.rules)) {
        const names = metricNames(rule.expr)
        t.ok(names.length > 0, `${rule.record ?? rule.alert}: reads something`)
        for (const name of names) t.ok(known(name), `${rule.record ?? rule.alert}: ${name} exists`)
      }
    }
  })

  t.test('every name in the Grafana panels exists', async t => {
    for (const { where, expr } of panelExpressions()) {
      for (const name of metricNames(expr)) t.ok(known(name), `${where}: ${name} exists`)
    }
  })

  t.test('the external names are used, so the list stays honest', async t => {
    const used = new Set([
      ...ruleGroups('recording.yml').flatMap(group => group.rules.flatMap(rule => metricNames(rule.expr))),
      ...ruleGroups('alerts.yml').flatMap(group => group.rules.flatMap(rule => metricNames(rule.expr))),
      ...panelExpressions().flatMap(({ expr }) => metricNames(expr)),
    ])
    for (const name of Object.keys(EXTERNAL_METRICS)) t.ok(used.has(name), `${name} is read somewhere`)
    for (const name of Object.keys(EXTERNAL_METRICS)) {
      t.notOk(proxyNames.has(name) || apiNames.has(name), `${name} does not come from our code`)
    }
  })
})
