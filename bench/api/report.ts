// The api section's Markdown: a summary of the API against its targets (ratios to the reference service and the
// isolation overhead), then one table per scenario with every subject's rates, latencies, CPU and errors, then notes.
import { cellKey, median, warningLines, type Cell } from '../report.ts'
import type { ApiScenarioId, ApiSubjectId } from '../settings.ts'
import type { ApiRun, ApiSectionResults } from './section.ts'

/** What the API should cost beside the reference (API ÷ reference) and beside itself with RLS bypassed. */
export const API_TARGETS = {
  /** CPU per request, at most: REST, and GraphQL (the API parses and plans a query the reference only compares). */
  cpu: { rest: 1.5, graphql: 2 },
  /** Requests per second, at least. */
  requestsPerSecond: 0.7,
  /** 99th percentile latency, at most. */
  p99: 2,
  /** CPU per request of the API ÷ the API on the superuser, at most. */
  isolation: 1.15,
} as const

export type Target = { max: number } | { min: number }

export const cpuTarget = (scenario: ApiScenarioId): Target => ({
  max: scenario === 'graphql' ? API_TARGETS.cpu.graphql : API_TARGETS.cpu.rest,
})

export interface Summary {
  perSecond: number
  p50: number
  p99: number
  cpuUs: number
  postgresCpuUs: number
  non2xx: number
  socketErrors: number
  timeouts: number
  requests: number
}

export function summarise(runs: ApiRun[]): Summary {
  const sum = (pick: (run: ApiRun) => number): number => runs.reduce((total, run) => total + pick(run), 0)
  return {
    perSecond: median(runs.map(run => run.requestsPerSecond)),
    p50: median(runs.map(run => run.p50Ms)),
    p99: median(runs.map(run => run.p99Ms)),
    cpuUs: median(runs.map(run => run.cpuUs)),
    postgresCpuUs: median(runs.map(run => run.postgresCpuUs)),
    non2xx: sum(run => run.non2xx),
    socketErrors: sum(run => run.socketErrors),
    timeouts: sum(run => run.timeouts),
    requests: sum(run => run.requests),
  }
}

/** a ÷ b, NaN when either is missing or b is 0. */
export const ratio = (a: number | undefined, b: number | undefined): number =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? Number.NaN : a / b

/** `1.23× ✓`, `1.80× ✗ (≤ 1.5×)`, or – when there is nothing to compare. */
export function verdict(value: number, target?: Target): string {
  if (Number.isNaN(value)) return '–'
  const shown = `${value.toFixed(2)}×`
  if (target === undefined) return shown
  const met = 'max' in target ? value <= target.max : value >= target.min
  return met ? `${shown} ✓` : `${shown} ✗ (${'max' in target ? `≤ ${target.max}` : `≥ ${target.min}`}×)`
}

const fixed = (value: number, digits: number): string => (Number.isNaN(value) ? '–' : value.toFixed(digits))
/** The process's CPU and its Postgres backends' together. */
const totalCpu = (summary: Summary | undefined): number =>
  summary === undefined ? Number.NaN : summary.cpuUs + summary.postgresCpuUs
const errorCount = (summary: Summary): number => summary.non2xx + summary.socketErrors + summary.timeouts

export function renderApiSection(results: ApiSectionResults): string {
  const cellOf = (subject: ApiSubjectId, scenario: ApiScenarioId): Cell<ApiRun> | undefined =>
    results.cells.get(cellKey(subject, scenario))
  const summaryOf = (subject: ApiSubjectId, scenario: ApiScenarioId): Summary | undefined => {
    const runs = cellOf(subject, scenario)?.runs ?? []
    return runs.length > 0 ? summarise(runs) : undefined
  }
  const lines = [
    '## The API alone, beside a minimal reference service',
    '',
    results.setup,
    '',
    '### Summary: the API against its targets',
    '',
    `| Scenario | API CPU µs/req | reference CPU µs/req | CPU API ÷ reference (≤ ${API_TARGETS.cpu.rest}×, GraphQL ≤ ${API_TARGETS.cpu.graphql}×) | ` +
      'reference on Prisma CPU µs/req | CPU API ÷ reference on Prisma (information) | ' +
      `req/s API ÷ reference (≥ ${API_TARGETS.requestsPerSecond}×) | p99 API ÷ reference (≤ ${API_TARGETS.p99}×) | ` +
      `isolation: CPU API ÷ API RLS bypassed (≤ ${API_TARGETS.isolation}×) | the same with their Postgres CPU (information) | errors, all subjects |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  let met = 0
  let judged = 0
  const judge = (value: number, target: Target): string => {
    const shown = verdict(value, target)
    if (!Number.isNaN(value)) {
      judged++
      if (shown.endsWith('✓')) met++
    }
    return shown
  }
  for (const scenario of results.scenarios) {
    const api = summaryOf('api', scenario.id)
    const reference = summaryOf('reference', scenario.id)
    const onPrisma = summaryOf('reference-prisma', scenario.id)
    const bypassed = summaryOf('api-rls-bypassed', scenario.id)
    const errors = results.subjects.reduce((total, subject) => {
      const summary = summaryOf(subject.id, scenario.id)
      return total + (summary === undefined ? 0 : errorCount(summary))
    }, 0)
    const failed = results.subjects.reduce(
      (total, subject) => total + (cellOf(subject.id, scenario.id)?.failures.length ?? 0),
      0,
    )
    lines.push(
      `| ${scenario.id} | ${fixed(api?.cpuUs ?? Number.NaN, 0)} | ${fixed(reference?.cpuUs ?? Number.NaN, 0)} | ` +
        `${judge(ratio(api?.cpuUs, reference?.cpuUs), cpuTarget(scenario.id))} | ` +
        `${fixed(onPrisma?.cpuUs ?? Number.NaN, 0)} | ${verdict(ratio(api?.cpuUs, onPrisma?.cpuUs))} | ` +
        `${judge(ratio(api?.perSecond, reference?.perSecond), { min: API_TARGETS.requestsPerSecond })} | ` +
        `${judge(ratio(api?.p99, reference?.p99), { max: API_TARGETS.p99 })} | ` +
        `${judge(ratio(api?.cpuUs, bypassed?.cpuUs), { max: API_TARGETS.isolation })} | ${verdict(ratio(totalCpu(api), totalCpu(bypassed)))} | ` +
        `${errors === 0 ? '0' : `⚠ ${errors}`}${failed > 0 ? ` ⚠ ${failed} failed run(s)` : ''} |`,
    )
  }
  lines.push(
    '',
    `Targets met: ${met} of ${judged}. Ratios are of medians; – where a subject was not run. CPU is the subject's process's, ` +
      "read from /proc; the policy itself is evaluated in Postgres, whose backends' CPU (the section's database, the subject under load the only busy one) " +
      'is shown beside it for information. The reference on Prisma is the floor for an API that keeps Prisma as its data layer: ' +
      'reference on Prisma ÷ reference is what Prisma itself costs, API ÷ reference on Prisma what the API adds to it.',
  )

  for (const scenario of results.scenarios) {
    const reference = summaryOf('reference', scenario.id)
    lines.push(
      '',
      `### ${scenario.id}: ${scenario.title}`,
      '',
      '| Subject | req/s | p50 ms | p99 ms | CPU µs/req | CPU ÷ reference | req/s ÷ reference | p99 ÷ reference | Postgres CPU µs/req | non-2xx | socket errors | timeouts |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    )
    for (const subject of results.subjects) {
      const cell = cellOf(subject.id, scenario.id)
      const summary = summaryOf(subject.id, scenario.id)
      if (summary === undefined) {
        lines.push(
          `| ${subject.label} | ⚠ no run${cell !== undefined && cell.failures.length > 0 ? `: every run failed (${cell.failures.length})` : ''} | | | | | | | | | | |`,
        )
        continue
      }
      const failed = cell?.failures.length ?? 0
      const targets = subject.id === 'api'
      lines.push(
        `| ${subject.label} | ${fixed(summary.perSecond, 0)}${failed > 0 ? ` ⚠ ${failed} failed run(s)` : ''} | ${fixed(summary.p50, 2)} | ${fixed(summary.p99, 2)} | ` +
          `${fixed(summary.cpuUs, 0)} | ${verdict(ratio(summary.cpuUs, reference?.cpuUs), targets ? cpuTarget(scenario.id) : undefined)} | ` +
          `${verdict(ratio(summary.perSecond, reference?.perSecond), targets ? { min: API_TARGETS.requestsPerSecond } : undefined)} | ` +
          `${verdict(ratio(summary.p99, reference?.p99), targets ? { max: API_TARGETS.p99 } : undefined)} | ${fixed(summary.postgresCpuUs, 0)} | ` +
          `${summary.non2xx} | ${summary.socketErrors} | ${summary.timeouts} |`,
      )
    }
  }

  lines.push(
    '',
    'Notes:',
    '',
    ...results.subjects.map(subject => `- ${subject.label}: ${subject.description}.`),
    "- The reference parses no GraphQL: it compares the body's query with the one it answers and sends one SQL statement " +
      '(the projects and, through a LATERAL join, the first tasks of each); the API parses, validates, costs and executes it with mercurius and a loader.',
    '- The reference leaves out what the API adds besides the security work: ETags, Cache-Control/Vary and X-Request-Id headers, ' +
      'metrics, problem+json errors, cursors on input, OpenAPI, strict UTF-8 body decoding.',
    "- API, RLS bypassed answers as the API does only because acme's rows are the oldest: the API's queries leave the tenant filter to the policy.",
    "- API on PGlite, for information: its writes stay (the API process holds the embedded database), and its CPU includes the database's own work.",
    "- Postgres CPU: every client backend of the section's database but the bench's own, over the run; a backend that ended during the run is not counted.",
  )

  const failures = results.subjects.flatMap(subject =>
    results.scenarios.flatMap(scenario =>
      (cellOf(subject.id, scenario.id)?.failures ?? []).map(
        failure => `- ${subject.label}, ${scenario.id}: ${failure.split('\n').slice(0, 3).join(' / ').slice(0, 400)}`,
      ),
    ),
  )
  if (failures.length > 0) lines.push('', 'Runs that could not be made:', '', ...failures)
  const logged = results.subjects
    .map(subject => ({ subject, lines: warningLines(subject.logFile) }))
    .filter(({ lines }) => lines.length > 0)
  if (logged.length > 0) {
    lines.push('', 'Warnings and errors the subjects logged (first lines of each log):', '')
    for (const { subject, lines: logLines } of logged) {
      lines.push(
        `- ${subject.label}: ${logLines.length} line(s)`,
        '',
        '  ```',
        ...logLines.slice(0, 3).map(line => `  ${line.slice(0, 240)}`),
        '  ```',
        '',
      )
    }
  }
  return lines.join('\n') + '\n'
}
