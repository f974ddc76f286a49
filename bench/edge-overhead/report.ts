// The edge-overhead section's Markdown: our proxy's verdicts against its targets (ratios to Caddy, nginx and
// the minimal Node edge), a table per scenario with every row's rate, latency, CPU and memory, TLS resumption.
import { ratio, verdict, type Target as Bound } from '../api/report.ts'
import { cellKey, median, warningLines, type Cell } from '../report.ts'
import type { TreeMemory } from '../processes.ts'
import type { OverheadScenarioId, OverheadTargetId } from '../settings.ts'
import type { WrkRun } from '../wrk.ts'
import { compressionChecks, compressionTable, type RunsOf } from './compression-report.ts'
import type { Resumption } from './resumption.ts'
import type { OverheadScenario } from './scenarios.ts'

/** A wrk run with the CPU per request (µs) of the row's processes and of the upstream, and the row's largest RSS. */
export interface OverheadRun extends WrkRun {
  cpuUs: number
  upstreamCpuUs: number
  /** Bytes wrk read per response, headers included (the compression loads' bytes on the wire). */
  bytesPerResponse: number
  /** Σ VmRSS over the row's processes, and the largest process's, at their highest during the run. */
  rssMiB: number
  largestRssMiB: number
  /** The round it belonged to, so two loads' runs can be paired round by round; undefined for a warm-up. */
  round?: number
}

export interface OverheadRow {
  id: OverheadTargetId
  label: string
  workers: string
  omissions: string[]
  logFiles: string[]
}

export interface OverheadResults {
  setup: string
  rows: OverheadRow[]
  scenarios: OverheadScenario[]
  cells: Map<string, Cell<OverheadRun>>
  /** VmHWM of each row's processes over the whole section (the upstream-direct row: the upstream's). */
  memory: Map<OverheadTargetId, TreeMemory>
  /** TLS session resumption per row, or why it was not measured. */
  resumption: Map<OverheadTargetId, Resumption | string>
}

/** One ratio of our proxy's (the `gatehouse` row) to another row's, in one scenario; bounded ones are its targets. */
export interface Comparison {
  scenario: OverheadScenarioId
  metric: 'cpu' | 'rate'
  against: OverheadTargetId
  bound?: Bound
}

export const COMPARISONS: Comparison[] = [
  { scenario: 'forwarded', metric: 'cpu', against: 'caddy', bound: { max: 1.25 } },
  { scenario: 'forwarded', metric: 'cpu', against: 'node-minimal', bound: { max: 1.1 } },
  { scenario: 'forwarded', metric: 'rate', against: 'caddy', bound: { min: 0.8 } },
  { scenario: 'cache-hit', metric: 'cpu', against: 'nginx', bound: { max: 1.6 } },
  { scenario: 'cache-hit', metric: 'rate', against: 'nginx', bound: { min: 0.6 } },
  { scenario: 'new-tls', metric: 'rate', against: 'caddy', bound: { min: 0.5 } },
  { scenario: 'new-tls', metric: 'cpu', against: 'caddy' },
  { scenario: 'page-miss-gzip', metric: 'cpu', against: 'nginx' },
  { scenario: 'page-miss-gzip', metric: 'cpu', against: 'caddy' },
  { scenario: 'page-hit-gzip', metric: 'cpu', against: 'nginx' },
]
/** Peak RSS of any one proxy process, at most; PROXY_WORKERS=auto's req/s ÷ one process's, at least, everywhere. */
export const PEAK_RSS_MIB = 120
export const ALL_CORES_VS_ONE = 1

export interface Summary {
  perSecond: number
  p50: number
  p99: number
  cpuUs: number
  upstreamCpuUs: number
  rssMiB: number
  largestRssMiB: number
  errors: number
  bytesPerResponse: number
}

export function summarise(runs: OverheadRun[]): Summary {
  return {
    perSecond: median(runs.map(run => run.requestsPerSecond)),
    p50: median(runs.map(run => run.p50Ms)),
    p99: median(runs.map(run => run.p99Ms)),
    cpuUs: median(runs.map(run => run.cpuUs)),
    upstreamCpuUs: median(runs.map(run => run.upstreamCpuUs)),
    bytesPerResponse: median(runs.map(run => run.bytesPerResponse)),
    rssMiB: Math.max(...runs.map(run => run.rssMiB)),
    largestRssMiB: Math.max(...runs.map(run => run.largestRssMiB)),
    errors: runs.reduce((total, run) => total + run.non2xx + run.socketErrors + run.timeouts, 0),
  }
}

const runsOf =
  (cells: Map<string, Cell<OverheadRun>>): RunsOf =>
  (row, scenario) =>
    cells.get(cellKey(row, scenario))?.runs ?? []

type SummaryOf = (row: OverheadTargetId, scenario: OverheadScenarioId) => Summary | undefined

export const summaries =
  (cells: Map<string, Cell<OverheadRun>>): SummaryOf =>
  (row, scenario) => {
    const runs = cells.get(cellKey(row, scenario))?.runs ?? []
    return runs.length > 0 ? summarise(runs) : undefined
  }

const pick = (summary: Summary | undefined, metric: Comparison['metric']): number | undefined =>
  summary === undefined ? undefined : metric === 'cpu' ? summary.cpuUs : summary.perSecond

export const comparisonLabel = (comparison: Comparison): string =>
  `${comparison.metric === 'cpu' ? 'CPU/req' : 'req/s'} ÷ ${comparison.against}`

const boundText = (bound: Bound): string => ('max' in bound ? `≤ ${bound.max}×` : `≥ ${bound.min}×`)

/** Our proxy against one target: what it measured, and whether that meets it (undefined: nothing to judge). */
export interface Check {
  what: string
  shown: string
  met: boolean | undefined
}

const judged = (what: string, shown: string): Check => ({
  what,
  shown,
  met: shown.endsWith('✓') ? true : shown === '–' ? undefined : false,
})

/** Every target of the section, judged on `gatehouse` (and on `gatehouse-all-cores` for memory and scaling). */
export function edgeOverheadChecks(results: Pick<OverheadResults, 'cells' | 'memory' | 'scenarios'>): Check[] {
  const summaryOf = summaries(results.cells)
  const checks: Check[] = []
  for (const comparison of COMPARISONS) {
    const measured = results.scenarios.some(scenario => scenario.id === comparison.scenario)
    if (comparison.bound === undefined || !measured) continue
    const value = ratio(
      pick(summaryOf('gatehouse', comparison.scenario), comparison.metric),
      pick(summaryOf(comparison.against, comparison.scenario), comparison.metric),
    )
    checks.push(judged(`${comparison.scenario}: ${comparisonLabel(comparison)}`, verdict(value, comparison.bound)))
  }
  for (const { what, value, max } of compressionChecks(runsOf(results.cells))) {
    checks.push(judged(what, verdict(value, { max })))
  }
  for (const id of ['gatehouse', 'gatehouse-all-cores'] as const) {
    const largest = results.memory.get(id)?.largestMiB
    if (largest === undefined) continue
    const shown = `${largest.toFixed(0)} MiB ${largest <= PEAK_RSS_MIB ? '✓' : `✗ (≤ ${PEAK_RSS_MIB} MiB)`}`
    checks.push(judged(`peak RSS of one process, ${id}`, shown))
  }
  for (const scenario of results.scenarios) {
    const value = ratio(
      summaryOf('gatehouse-all-cores', scenario.id)?.perSecond,
      summaryOf('gatehouse', scenario.id)?.perSecond,
    )
    const what = `${scenario.id}: req/s PROXY_WORKERS=auto ÷ one process`
    checks.push(judged(what, verdict(value, { min: ALL_CORES_VS_ONE })))
  }
  return checks
}

const fixed = (value: number, digits: number): string => (Number.isNaN(value) ? '–' : value.toFixed(digits))

// Verdicts are shown on our proxy's rows (one process, and the baseline build); the others get plain ratios.
const JUDGED_ROWS: OverheadTargetId[] = ['gatehouse', 'gatehouse-baseline']

function scenarioTable(results: OverheadResults, scenario: OverheadScenario): string[] {
  const summaryOf = summaries(results.cells)
  const { id } = scenario
  const comparisons = COMPARISONS.filter(comparison => comparison.scenario === id)
  const titles = comparisons.map(comparison =>
    comparison.bound === undefined
      ? comparisonLabel(comparison)
      : `${comparisonLabel(comparison)} (${boundText(comparison.bound)})`,
  )
  // The compression loads show what went over the wire too.
  const bytes = id.startsWith('page')
  const columns = 6 + titles.length + (bytes ? 1 : 0)
  const lines = [
    '',
    `### ${id}: ${scenario.title}`,
    '',
    '| Row | Workers | req/s | p50 ms | p99 ms | CPU µs/req | upstream CPU µs/req | RSS MiB (largest process) | ' +
      [...(bytes ? ['bytes/resp'] : []), ...titles, 'errors'].join(' | ') +
      ' |',
    `| --- | --- | ${Array.from({ length: columns }, () => '---:').join(' | ')} | ---: |`,
  ]
  const empty = Array.from({ length: columns }, () => '').join(' | ')
  for (const row of results.rows) {
    const cell = results.cells.get(cellKey(row.id, id))
    if (cell === undefined) continue
    if (cell.notApplicable !== undefined) {
      lines.push(`| ${row.label} | n/a: ${cell.notApplicable} | ${empty} |`)
      continue
    }
    const summary = summaryOf(row.id, id)
    if (summary === undefined) {
      lines.push(`| ${row.label} | ⚠ every run failed (${cell.failures.length}) | ${empty} |`)
      continue
    }
    const ratios = comparisons.map(comparison => {
      if (row.id === comparison.against) return ''
      const value = ratio(pick(summary, comparison.metric), pick(summaryOf(comparison.against, id), comparison.metric))
      return verdict(value, JUDGED_ROWS.includes(row.id) ? comparison.bound : undefined)
    })
    const failed = cell.failures.length > 0 ? ` ⚠ ${cell.failures.length} failed run(s)` : ''
    const upstream = row.id === 'upstream-direct' ? '(the row)' : fixed(summary.upstreamCpuUs, 0)
    lines.push(
      `| ${row.label} | ${row.workers} | ${fixed(summary.perSecond, 0)}${failed} | ` +
        `${fixed(summary.p50, 2)} | ${fixed(summary.p99, 2)} | ${fixed(summary.cpuUs, 0)} | ${upstream} | ` +
        `${fixed(summary.rssMiB, 0)} (${fixed(summary.largestRssMiB, 0)}) | ` +
        [...(bytes ? [fixed(summary.bytesPerResponse, 0)] : []), ...ratios, ''].join(' | ') +
        `${summary.errors === 0 ? '0' : `⚠ ${summary.errors}`} |`,
    )
  }
  return lines
}

function memoryTable(results: OverheadResults): string[] {
  const lines = [
    '',
    '### Peak memory and TLS session resumption',
    '',
    '| Row | Processes | Peak RSS MiB, Σ VmHWM | largest process | TLS sessions resumed |',
    '| --- | ---: | ---: | ---: | ---: |',
  ]
  for (const row of results.rows) {
    const memory = results.memory.get(row.id)
    const resumption = results.resumption.get(row.id)
    const percent = (done: Resumption): string => ((100 * done.resumed) / done.attempts).toFixed(0)
    const resumed =
      resumption === undefined
        ? '–'
        : typeof resumption === 'string'
          ? resumption
          : `${resumption.resumed} of ${resumption.attempts} (${percent(resumption)} %)`
    lines.push(
      `| ${row.label} | ${memory?.processes ?? '–'} | ${fixed(memory?.mib ?? Number.NaN, 0)} | ` +
        `${fixed(memory?.largestMiB ?? Number.NaN, 0)} | ${resumed} |`,
    )
  }
  return lines
}

function notes(results: OverheadResults): string[] {
  const lines: string[] = []
  const failures = results.rows.flatMap(row =>
    results.scenarios.flatMap(scenario =>
      (results.cells.get(cellKey(row.id, scenario.id))?.failures ?? []).map(
        failure => `- ${row.label}, ${scenario.id}: ${failure.split('\n').slice(0, 3).join(' / ').slice(0, 400)}`,
      ),
    ),
  )
  if (failures.length > 0) lines.push('', 'Runs that could not be made:', '', ...failures)
  const logged = results.rows
    .flatMap(row => row.logFiles.map(file => ({ row, lines: warningLines(file) })))
    .filter(({ lines }) => lines.length > 0)
  if (logged.length > 0) lines.push('', 'Warnings and errors the servers logged (the first lines of each):', '')
  for (const { row, lines: logLines } of logged) {
    lines.push(
      `- ${row.label}: ${logLines.length} line(s)`,
      '',
      '  ```',
      ...logLines.slice(0, 3).map(line => `  ${line.slice(0, 240)}`),
      '  ```',
      '',
    )
  }
  const omitted = results.rows.filter(row => row.omissions.length > 0)
  if (omitted.length > 0) {
    lines.push(
      '',
      "What a row leaves out of the edge's work:",
      '',
      ...omitted.map(row => `- ${row.label}: ${row.omissions.join('; ')}.`),
    )
  }
  return lines
}

export function renderEdgeOverhead(results: OverheadResults): string {
  const checks = edgeOverheadChecks(results)
  const met = checks.filter(check => check.met === true).length
  const judgedCount = checks.filter(check => check.met !== undefined).length
  return (
    [
      '## The edge alone, beside nginx and Caddy',
      '',
      results.setup,
      '',
      '### Our proxy against its targets',
      '',
      '| Target | Gatehouse proxy |',
      '| --- | ---: |',
      ...checks.map(check => `| ${check.what} | ${check.shown} |`),
      '',
      `Targets met: ${met} of ${judgedCount}. Ratios are of medians; – where a row was not run.`,
      ...compressionTable(runsOf(results.cells), row => results.rows.some(each => each.id === row)),
      ...results.scenarios.flatMap(scenario => scenarioTable(results, scenario)),
      ...memoryTable(results),
      ...notes(results),
    ].join('\n') + '\n'
  )
}
