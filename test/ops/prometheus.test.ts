// The Prometheus configuration passes the real promtool: config and rule files check, and the unit tests
// in ops/prometheus/tests pass. Beyond promtool: every alert is made to fire AND to stay quiet by those
// unit tests, and carries a severity the Alertmanager routes, a summary and a runbook section that exists.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readText, readYaml, repoPath, ruleGroups, runTool } from './ops-helpers.ts'

const alerts = ruleGroups('alerts.yml').flatMap(group => group.rules)
const testFiles = readdirSync(repoPath('ops/prometheus/tests'))
  .filter(name => name.endsWith('.yml'))
  .map(name => `ops/prometheus/tests/${name}`)

t.test('promtool check config: prometheus.yml and the rule files it loads', async t => {
  const result = runTool(t, 'promtool', ['check', 'config', 'ops/prometheus/prometheus.yml'])
  t.equal(result.status, 0, result.output)
  // A rule_files glob that matches nothing still "succeeds": make sure both files were loaded.
  t.match(result.output, /SUCCESS: 2 rule files found/)
  t.match(result.output, /Checking ops\/prometheus\/rules\/alerts\.yml\s+SUCCESS: \d+ rules found/)
  t.match(result.output, /Checking ops\/prometheus\/rules\/recording\.yml\s+SUCCESS: \d+ rules found/)
})

t.test('promtool check rules', async t => {
  const result = runTool(t, 'promtool', [
    'check',
    'rules',
    'ops/prometheus/rules/recording.yml',
    'ops/prometheus/rules/alerts.yml',
  ])
  t.equal(result.status, 0, result.output)
  t.notMatch(result.output, /WARNING|FAILED/)
})

t.test('promtool test rules: every unit test file passes', async t => {
  t.ok(testFiles.length >= 3, 'the unit test files are found')
  const result = runTool(t, 'promtool', ['test', 'rules', ...testFiles])
  t.equal(result.status, 0, result.output)
  t.equal(result.output.match(/SUCCESS/g)?.length, testFiles.length, result.output)
})

t.test('promtool test rules can fail: a wrong expectation is reported', async t => {
  // Guards against a promtool or file layout where the unit tests would pass vacuously.
  const dir = mkdtempSync(join(tmpdir(), 'promtool-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'wrong.test.yml')
  writeFileSync(
    file,
    readText('ops/prometheus/tests/availability.test.yml')
      .replaceAll('../rules/', `${repoPath('ops/prometheus/rules')}/`)
      .replace(
        'description: "pg_up has been 0 on postgres-exporter:9187 for 1 minute."',
        'description: "something else"',
      ),
  )
  const result = runTool(t, 'promtool', ['test', 'rules', file])
  t.equal(result.status, 1)
  t.match(result.output, /FAILED[\s\S]*PostgresDown/)
})

interface AlertTest {
  alertname: string
  exp_alerts: unknown[]
}
interface UnitTests {
  rule_files: string[]
  tests: Array<{ alert_rule_test?: AlertTest[] }>
}

t.test('every alert has a unit test where it fires and one where it does not', async t => {
  const fires = new Set<string>()
  const quiet = new Set<string>()
  for (const file of testFiles) {
    const unit = readYaml<UnitTests>(file)
    t.same(
      unit.rule_files.sort(),
      ['../rules/alerts.yml', '../rules/recording.yml'],
      `${file} loads the real rule files`,
    )
    for (const check of unit.tests.flatMap(test => test.alert_rule_test ?? [])) {
      ;(check.exp_alerts.length > 0 ? fires : quiet).add(check.alertname)
    }
  }
  t.ok(alerts.length >= 9)
  for (const alert of alerts) {
    t.ok(fires.has(alert.alert!), `${alert.alert} fires in a unit test`)
    t.ok(quiet.has(alert.alert!), `${alert.alert} stays quiet in a unit test`)
  }
  const names = new Set(alerts.map(alert => alert.alert))
  for (const name of [...fires, ...quiet]) t.ok(names.has(name), `unit tests name existing alert ${name}`)
})

t.test('every alert has a severity, a summary and a runbook section that exists', async t => {
  const runbooks = readText('docs/runbooks.md')
  // GitHub's anchors: the heading text lower-cased, spaces to hyphens, punctuation dropped.
  const anchors = new Set(
    [...runbooks.matchAll(/^#{2,3} (.+)$/gm)].map(([, heading]) =>
      heading!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  )
  const required = [
    'ServiceDown',
    'ErrorBudgetBurnFast',
    'ErrorBudgetBurnSlow',
    'HighP99Latency',
    'TenantRateLimitSpike',
    'CacheHitRatioCollapse',
    'DatabaseNotReady',
    'RedisUnreachableFromProxy',
  ]
  for (const name of required) {
    t.ok(
      alerts.some(alert => alert.alert === name),
      `the issue's ${name} alert exists`,
    )
  }
  for (const alert of alerts) {
    t.match(alert.labels?.severity, /^(critical|warning)$/, `${alert.alert}: severity`)
    t.ok((alert.annotations?.summary ?? '').length > 10, `${alert.alert}: summary`)
    const url = alert.annotations?.runbook_url ?? ''
    t.match(url, /^docs\/runbooks\.md#[a-z0-9-]+$/, `${alert.alert}: runbook_url`)
    t.ok(anchors.has(url.split('#')[1]!), `${alert.alert}: docs/runbooks.md has the section #${url.split('#')[1]}`)
    t.ok(alert.for !== undefined, `${alert.alert}: waits (for:) before firing, so one bad scrape does not page`)
  }
})

t.test('the burn-rate alerts read recording rules that exist, over the SRE workbook windows', async t => {
  const recorded = new Set(ruleGroups('recording.yml').flatMap(group => group.rules.map(rule => rule.record)))
  for (const window of ['5m', '30m', '1h', '2h', '6h', '1d', '3d']) {
    t.ok(recorded.has(`job:http_error_ratio:rate${window}`), `error ratio over ${window}`)
  }
  const fast = alerts.find(alert => alert.alert === 'ErrorBudgetBurnFast')!.expr
  const slow = alerts.find(alert => alert.alert === 'ErrorBudgetBurnSlow')!.expr
  t.match(fast, /rate1h > \(14\.4 \* 0\.001\) and job:http_error_ratio:rate5m > \(14\.4 \* 0\.001\)/)
  t.match(fast, /rate6h > \(6 \* 0\.001\) and job:http_error_ratio:rate30m > \(6 \* 0\.001\)/)
  t.match(slow, /rate1d > \(3 \* 0\.001\) and job:http_error_ratio:rate2h > \(3 \* 0\.001\)/)
  t.match(slow, /rate3d > 0\.001 and job:http_error_ratio:rate6h > 0\.001/)
})
