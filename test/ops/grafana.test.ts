// Grafana: four provisioned dashboards with stable uids and a templated data source, every panel query
// accepted by the real PromQL parser (promtool), and provisioning paths that match compose.yaml.
// (That each query reads metrics which exist is test/ops/metric-names.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { DASHBOARDS, panelExpressions, readDashboard, readYaml, runTool } from './ops-helpers.ts'

t.test('dashboards: valid JSON, stable unique uids, data source from a variable, a sane grid', async t => {
  const uids = new Set<string>()
  for (const name of DASHBOARDS) {
    const dashboard = readDashboard(name)
    t.equal(dashboard.uid, `gatehouse-${name}`, `${name}: stable uid`)
    uids.add(dashboard.uid)
    const variable = dashboard.templating.list.find(entry => entry.name === 'datasource')
    t.same(
      variable && { type: variable.type, query: variable.query },
      { type: 'datasource', query: 'prometheus' },
      `${name}: data source variable`,
    )
    t.ok(dashboard.panels.length >= 4, `${name}: panels`)
    const ids = new Set<number>()
    for (const panel of dashboard.panels) {
      ids.add(panel.id)
      t.same(
        panel.datasource,
        { type: 'prometheus', uid: '${datasource}' },
        `${name}/${panel.title}: panel data source`,
      )
      t.ok(
        panel.targets.length > 0 &&
          panel.targets.every(target => target.expr.trim() !== '' && target.datasource.uid === '${datasource}'),
        `${name}/${panel.title}: queries`,
      )
      t.ok(
        panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24,
        `${name}/${panel.title}: fits the 24-column grid`,
      )
    }
    t.equal(ids.size, dashboard.panels.length, `${name}: panel ids unique`)
  }
  t.equal(uids.size, DASHBOARDS.length)
})

t.test('the edge dashboard covers what the issue asks for', async t => {
  const exprs = readDashboard('edge')
    .panels.flatMap(panel => panel.targets.map(target => target.expr))
    .join('\n')
  for (const metric of [
    'cache_hit_ratio',
    'gatehouse_proxy_rate_limited',
    'gatehouse_proxy_auth_failures_total',
    'gatehouse_proxy_upstream_duration_seconds',
    'gatehouse_proxy_requests_total',
  ]) {
    t.match(exprs, metric)
  }
  t.match(exprs, /by \(http_version, tls_version\)/, 'HTTP/TLS version mix')
})

t.test('every panel query parses (promtool check rules over them as recording rules)', async t => {
  const queries = panelExpressions()
  t.ok(queries.length >= 30)
  const dir = mkdtempSync(join(tmpdir(), 'grafana-exprs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'panels.yml')
  writeFileSync(
    file,
    stringify({
      groups: [
        {
          name: 'panels',
          rules: queries.map((query, index) => ({ record: `grafana_panel_${index}`, expr: query.expr })),
        },
      ],
    }),
  )
  const result = runTool(t, 'promtool', ['check', 'rules', file])
  t.equal(result.status, 0, result.output)
  t.match(result.output, new RegExp(`SUCCESS: ${queries.length} rules found`))

  // The same route refuses a query with a syntax error: the check above did parse.
  writeFileSync(
    file,
    stringify({ groups: [{ name: 'broken', rules: [{ record: 'broken', expr: 'sum(rate(up[5m])' }] }] }),
  )
  t.not(runTool(t, 'promtool', ['check', 'rules', file]).status, 0)
})

t.test('provisioning points at the compose services and mounts', async t => {
  const datasources = readYaml('ops/grafana/provisioning/datasources/prometheus.yml').datasources as Array<{
    uid: string
    type: string
    url: string
    isDefault?: boolean
  }>
  const prometheus = datasources.find(source => source.type === 'prometheus')!
  t.equal(prometheus.uid, 'prometheus')
  t.equal(prometheus.url, 'http://prometheus:9090')
  t.equal(prometheus.isDefault, true)
  const providers = readYaml('ops/grafana/provisioning/dashboards/gatehouse.yml').providers as Array<{
    options: { path: string }
  }>
  const grafana = readYaml('compose.yaml').services.grafana
  t.ok(
    grafana.volumes.includes(`./ops/grafana/dashboards:${providers[0]!.options.path}:ro`),
    'the dashboards folder is mounted where the provider reads',
  )
  t.ok(grafana.volumes.includes('./ops/grafana/provisioning:/etc/grafana/provisioning:ro'))
  t.equal(grafana.environment.GF_SECURITY_ADMIN_USER, 'admin')
  t.equal(grafana.environment.GF_SECURITY_ADMIN_PASSWORD, 'admin')
  t.ok(grafana.ports.includes('127.0.0.1:3001:3000'), 'Grafana on 3001')
})
