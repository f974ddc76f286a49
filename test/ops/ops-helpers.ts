// Shared by the ops config tests: paths, YAML, the external tools (which must exist: CI installs them),
// and the names a PromQL expression reads.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { parse } from 'yaml'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const repoPath = (...parts: string[]): string => join(ROOT, ...parts)
export const readText = (...parts: string[]): string => readFileSync(repoPath(...parts), 'utf8')
/** YAML with merge keys (`<<: *anchor`), as Docker Compose reads it. */
export const readYaml = <T = any>(...parts: string[]): T => parse(readText(...parts), { merge: true }) as T

export interface ToolResult {
  status: number | null
  stdout: string
  output: string
}

/**
 * Runs promtool/amtool. A missing binary is a failure, not a skip: CI installs Debian's prometheus and
 * prometheus-alertmanager, and a check that silently does not run proves nothing.
 */
export function runTool(t: Test, command: string, args: string[], cwd = ROOT): ToolResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 })
  if (result.error !== undefined) {
    t.fail(
      `${command} could not run (${(result.error as NodeJS.ErrnoException).code ?? result.error.message}): apt-get install prometheus prometheus-alertmanager`,
    )
    return { status: null, stdout: '', output: '' }
  }
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` }
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'inf',
  'nan',
])

/**
 * Metric names an expression selects: identifiers that are not functions, keywords, label names or
 * grouping labels. Strings, label matchers, ranges and grouping clauses are removed first.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    // Numbers and durations (offset 1h, 0.5, 1e3) before identifiers, or "1h" would yield "h".
    .replace(/(?<![A-Za-z0-9_:])\d[\d.]*(e[+-]?\d+|ms|[smhdwy])?/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(match.index! + match[0].length).trimStart()
    if (after.startsWith('(') || KEYWORDS.has(match[0])) continue
    names.add(match[0])
  }
  return [...names]
}

/** Names a Prometheus text exposition offers: histograms and summaries as their _bucket/_sum/_count series. */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>()
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix)
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(name! + suffix)
    else names.add(name!)
  }
  return names
}

/** Metrics that come from Prometheus itself or the exporters in compose.yaml, not from our code. */
export const EXTERNAL_METRICS: Record<string, string> = {
  up: 'Prometheus: 1 when the last scrape of a target succeeded',
  ALERTS: 'Prometheus: one series per pending or firing alert',
  pg_up: 'postgres-exporter: 1 when it can connect to PostgreSQL',
  pg_stat_database_numbackends: 'postgres-exporter: pg_stat_database.numbackends per database',
  pg_settings_max_connections: 'postgres-exporter: the max_connections setting',
  // Not external, but only on a proxy with ACME_EMAIL; test/proxy/tls/acme/acme-metrics.test.ts reads it from that
  // proxy.
  gatehouse_proxy_certificate_expiry_seconds:
    'proxy with ACME: seconds until the certificate served for a name expires',
}

export interface RuleGroup {
  name: string
  rules: Array<{
    record?: string
    alert?: string
    expr: string
    for?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }>
}
export const ruleGroups = (file: 'recording.yml' | 'alerts.yml'): RuleGroup[] =>
  readYaml<{ groups: RuleGroup[] }>('ops/prometheus/rules', file).groups

export const DASHBOARDS = ['overview', 'edge', 'api', 'tenants'] as const
export interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource: { type: string; uid: string }
  targets: Array<{ refId: string; expr: string; datasource: { type: string; uid: string } }>
}
export interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: Array<{ name: string; type: string; query: unknown }> }
}
export const readDashboard = (name: string): Dashboard =>
  JSON.parse(readText('ops/grafana/dashboards', `${name}.json`)) as Dashboard

/** Every panel query, with the dashboard variables replaced by what "All" selects, as Grafana sends it. */
export function panelExpressions(): Array<{ where: string; expr: string }> {
  return DASHBOARDS.flatMap(name =>
    readDashboard(name).panels.flatMap(panel =>
      panel.targets.map(target => ({
        where: `${name}.json panel ${panel.id} "${panel.title}" ${target.refId}`,
        expr: target.expr.replace(/\$(instance|tenant)\b/g, '.+'),
      })),
    ),
  )
}
