// The Markdown the bench prints (and keeps next to its raw runs): a summary matrix of requests/s and ratios
// to the direct API, one table per scenario with latencies and every error, and peak memory per target; then
// the tenancy section's table of query variants with their ratios to the plain query.
import { readFileSync } from 'node:fs'
import type { Scenario } from './scenarios.ts'
import type { QueryRun, TenancyResults, TenancyVariant } from './tenancy.ts'
import type { AnyScenarioId, ServerId } from './settings.ts'
import type { WrkRun } from './wrk.ts'

export interface TargetRow {
  id: ServerId
  label: string
  workers: string
  omissions: string[]
  logFiles: string[]
}

/** A wrk run with the CPU the target's processes and the API's used per request meanwhile (µs). */
export interface Run extends WrkRun {
  targetCpuUs: number
  apiCpuUs: number
}

/** A target's runs of one scenario; failures are runs that could not be made (the probe before them failed). */
export interface Cell<R = Run> {
  runs: R[]
  failures: string[]
  notApplicable?: string
}

export interface BenchResults {
  header: string[]
  targets: TargetRow[]
  scenarios: Scenario[]
  cells: Map<string, Cell>
  memory: Map<ServerId, { mib: number; processes: number }>
}

// Warnings and worse: pino's numeric levels ≥ 40 or named ones (Caddy), nginx's bracketed levels; other lines as they
// are.
const NOT_A_WARNING = /"level":\s*((10|20|30)\b|"(debug|info)")|\[(debug|info|notice)\]/

/** The lines of a server's log that report something wrong. */
export function warningLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(line => line.trim() !== '' && !NOT_A_WARNING.test(line))
  } catch {
    return []
  }
}

export const cellKey = (subject: string, load: string): string => `${subject}/${load}`

export const median = (values: number[]): number => {
  const sorted = values.filter(value => !Number.isNaN(value)).sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!
}

const fixed = (value: number, digits: number): string => (Number.isNaN(value) ? '–' : value.toFixed(digits))
const latency = (value: number): string =>
  Number.isNaN(value) ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(2)

interface Summary {
  perSecond: number
  p50: number
  p99: number
  targetCpuUs: number
  apiCpuUs: number
  non2xx: number
  socketErrors: number
  timeouts: number
  requests: number
}

function summarise(runs: Run[]): Summary {
  const sum = (pick: (run: Run) => number): number => runs.reduce((total, run) => total + pick(run), 0)
  return {
    perSecond: median(runs.map(run => run.requestsPerSecond)),
    p50: median(runs.map(run => run.p50Ms)),
    p99: median(runs.map(run => run.p99Ms)),
    targetCpuUs: median(runs.map(run => run.targetCpuUs)),
    apiCpuUs: median(runs.map(run => run.apiCpuUs)),
    non2xx: sum(run => run.non2xx),
    socketErrors: sum(run => run.socketErrors),
    timeouts: sum(run => run.timeouts),
    requests: sum(run => run.requests),
  }
}

export function renderReport(results: BenchResults): string {
  // The API is always measured for memory; it has no rows of its own when it was not a target.
  const measured = results.targets.filter(target =>
    results.scenarios.some(scenario => results.cells.has(cellKey(target.id, scenario.id))),
  )
  const summaryOf = (target: ServerId, scenario: AnyScenarioId): Summary | string | undefined => {
    const cell = results.cells.get(cellKey(target, scenario))
    if (cell === undefined) return undefined
    if (cell.notApplicable !== undefined) return cell.notApplicable
    if (cell.runs.length === 0 && cell.failures.length > 0) return `every run failed (${cell.failures.length})`
    return cell.runs.length > 0 ? summarise(cell.runs) : undefined
  }
  const baseline = (scenario: AnyScenarioId): number => {
    const api = summaryOf('api', scenario)
    return typeof api === 'object' ? api.perSecond : Number.NaN
  }
  const ratio = (value: number, scenario: AnyScenarioId): string => {
    const base = baseline(scenario)
    return Number.isNaN(base) || base === 0 ? '–' : `${(value / base).toFixed(2)}×`
  }
  const errorsOf = (summary: Summary, target: ServerId, scenario: AnyScenarioId): string => {
    const errors = summary.non2xx + summary.socketErrors + summary.timeouts
    const failed = results.cells.get(cellKey(target, scenario))?.failures.length ?? 0
    return (errors === 0 ? '' : ` ⚠ ${errors} errors`) + (failed === 0 ? '' : ` ⚠ ${failed} failed run(s)`)
  }

  const lines = [
    ...results.header,
    '',
    '### Requests/s, median (ratio to the API direct)',
    '',
    `| Target | Workers | ${results.scenarios.map(scenario => scenario.id).join(' | ')} |`,
    `| --- | --- | ${results.scenarios.map(() => '---:').join(' | ')} |`,
  ]
  for (const target of measured) {
    const cells = results.scenarios.map(scenario => {
      const summary = summaryOf(target.id, scenario.id)
      if (summary === undefined) return 'not run'
      if (typeof summary === 'string') {
        return results.cells.get(cellKey(target.id, scenario.id))?.notApplicable !== undefined ? 'n/a' : `⚠ ${summary}`
      }
      return `${fixed(summary.perSecond, 0)} (${ratio(summary.perSecond, scenario.id)})${errorsOf(summary, target.id, scenario.id)}`
    })
    lines.push(`| ${target.label} | ${target.workers} | ${cells.join(' | ')} |`)
  }

  lines.push(
    '',
    "### CPU the target used per request, µs (median; the API direct row: the API's own)",
    '',
    `| Target | ${results.scenarios.map(scenario => scenario.id).join(' | ')} |`,
    `| --- | ${results.scenarios.map(() => '---:').join(' | ')} |`,
  )
  for (const target of measured) {
    const cells = results.scenarios.map(scenario => {
      const summary = summaryOf(target.id, scenario.id)
      if (summary === undefined) return 'not run'
      if (typeof summary === 'string') {
        return results.cells.get(cellKey(target.id, scenario.id))?.notApplicable !== undefined ? 'n/a' : '⚠'
      }
      return fixed(target.id === 'api' ? summary.apiCpuUs : summary.targetCpuUs, 0)
    })
    lines.push(`| ${target.label} | ${cells.join(' | ')} |`)
  }

  for (const scenario of results.scenarios) {
    lines.push(
      '',
      `### ${scenario.id}: ${scenario.title}`,
      '',
      '| Target | req/s | vs API | p50 ms | p99 ms | CPU µs/req (target) | CPU µs/req (API) | non-2xx | socket errors | timeouts |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    )
    for (const target of results.targets) {
      const summary = summaryOf(target.id, scenario.id)
      if (summary === undefined) continue
      if (typeof summary === 'string') {
        const notApplicable = results.cells.get(cellKey(target.id, scenario.id))?.notApplicable !== undefined
        lines.push(`| ${target.label} | ${notApplicable ? 'n/a: ' : '⚠ '}${summary} | | | | | | | | |`)
        continue
      }
      const failedRuns = results.cells.get(cellKey(target.id, scenario.id))?.failures.length ?? 0
      lines.push(
        `| ${target.label} | ${fixed(summary.perSecond, 0)}${failedRuns > 0 ? ` ⚠ ${failedRuns} failed run(s)` : ''} | ${ratio(summary.perSecond, scenario.id)} | ${latency(summary.p50)} | ${latency(summary.p99)} | ${fixed(summary.targetCpuUs, 0)} | ${fixed(summary.apiCpuUs, 0)} | ${summary.non2xx} | ${summary.socketErrors} | ${summary.timeouts} |`,
      )
    }
  }

  lines.push(
    '',
    "### Peak memory (Σ VmHWM over the target's processes, for the whole bench)",
    '',
    '| Target | Processes | Peak MiB |',
    '| --- | ---: | ---: |',
  )
  for (const target of results.targets) {
    const memory = results.memory.get(target.id)
    if (memory !== undefined) {
      lines.push(
        `| ${target.id === 'api' ? 'API (serving every target)' : target.label} | ${memory.processes} | ${memory.mib.toFixed(0)} |`,
      )
    }
  }

  const failed = [...results.cells].filter(([, cell]) => cell.failures.length > 0)
  if (failed.length > 0) {
    lines.push('', 'Runs that could not be made (the probe before them failed):', '')
    for (const [key, cell] of failed) {
      for (const failure of cell.failures) {
        lines.push(`- ${key}: ${failure.split('\n').slice(0, 3).join(' / ').slice(0, 400)}`)
      }
    }
  }

  const logged = results.targets
    .flatMap(target => target.logFiles.map(file => ({ target, lines: warningLines(file) })))
    .filter(({ lines }) => lines.length > 0)
  if (logged.length > 0) {
    lines.push('', 'Warnings and errors the servers logged during the bench (first lines of each log):', '')
    for (const { target, lines: logLines } of logged) {
      lines.push(
        `- ${target.id === 'api' ? 'API' : target.label}: ${logLines.length} line(s)`,
        '',
        '  ```',
        ...logLines.slice(0, 3).map(line => `  ${line.slice(0, 240)}`),
        '  ```',
        '',
      )
    }
  }

  const omitted = results.targets.filter(target => target.omissions.length > 0)
  if (omitted.length > 0) {
    lines.push('', "What a target leaves out of the edge's work:", '')
    for (const target of omitted) lines.push(`- ${target.label}: ${target.omissions.join('; ')}.`)
  }
  return lines.join('\n') + '\n'
}

/** The tenancy section: queries/s and latency of each variant, with its ratio to the plain query (the first). */
export function renderTenancy(tenancy: TenancyResults): string {
  const cellOf = (variant: TenancyVariant): Cell<QueryRun> =>
    tenancy.cells.get(variant.id) ?? { runs: [], failures: [] }
  const perSecond = (variant: TenancyVariant): number => median(cellOf(variant).runs.map(run => run.requestsPerSecond))
  const base = perSecond(tenancy.variants[0]!)
  const lines = [
    "## The API's tenancy cost: the list query with and without the per-request tenant transaction",
    '',
    tenancy.setup,
    '',
    '| Variant | queries/s | vs A | CPU µs/query | CPU vs A | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const cpuOf = (variant: TenancyVariant): number => median(cellOf(variant).runs.map(run => run.cpuUs))
  const baseCpu = cpuOf(tenancy.variants[0]!)
  const versus = (value: number, against: number): string =>
    Number.isNaN(against) || against === 0 ? '–' : `${(value / against).toFixed(2)}×`
  for (const variant of tenancy.variants) {
    const { runs, failures } = cellOf(variant)
    const rate = perSecond(variant)
    lines.push(
      `| ${variant.label} | ${fixed(rate, 0)}${failures.length > 0 ? ` ⚠ ${failures.length} failed run(s)` : ''} | ${versus(rate, base)} | ` +
        `${fixed(cpuOf(variant), 0)} | ${versus(cpuOf(variant), baseCpu)} | ${fixed(median(runs.map(run => run.p50Ms)), 2)} | ${fixed(median(runs.map(run => run.p99Ms)), 2)} |`,
    )
  }
  lines.push('', "CPU is the bench process's own (it runs the queries): Prisma, the driver and the loop, not Postgres.")
  const failed = tenancy.variants.flatMap(variant =>
    cellOf(variant).failures.map(failure => `- ${variant.label}: ${failure.split('\n')[0]!.slice(0, 400)}`),
  )
  if (failed.length > 0) lines.push('', 'Runs that could not be made:', '', ...failed)
  return lines.join('\n') + '\n'
}
