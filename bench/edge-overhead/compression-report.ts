// The edge-overhead section's compression verdicts and its per-coding table (issue 13): what coding adds to a miss
// and to a hit, for our proxy beside the minimal Node edge (the floor: the same coder, nothing else), nginx and Caddy.
import { ratio, verdict } from '../api/report.ts'
import { median } from '../report.ts'
import type { OverheadTargetId } from '../settings.ts'

/**
 * Compression's targets: a coded cache hit costs at most 1.2× an uncoded one (the variant is stored, not made again);
 * what compressing a miss adds to ours — coded miss minus uncoded miss — is no more than what it adds to nginx's (gzip
 * at its default level 1) for the same body, and, since node:zlib's one-shot coders alone cost more than nginx's whole
 * gzip, within 1.2× of what it adds to the minimal Node edge, which codes with the same coder and nothing around it.
 */
export const CODED_HIT_VS_PLAIN = 1.2
export const MISS_COMPRESSION_VS_NGINX = 1
export const MISS_COMPRESSION_VS_FLOOR = 1.2
const CODINGS = ['gzip', 'br', 'zstd'] as const
type Coding = (typeof CODINGS)[number]

type PageScenario = `page-${'miss' | 'hit'}${'' | `-${Coding}`}`
/** A row's runs of a scenario: each one's CPU µs per request and its round; empty when it was not run. */
export type RunsOf = (row: OverheadTargetId, scenario: PageScenario) => Array<{ cpuUs: number; round?: number }>

export interface CompressionCheck {
  what: string
  value: number
  max: number
}

const medianCpu = (runsOf: RunsOf, row: OverheadTargetId, scenario: PageScenario): number | undefined => {
  const runs = runsOf(row, scenario)
  return runs.length > 0 ? median(runs.map(run => run.cpuUs)) : undefined
}

/**
 * What coding adds to a miss's CPU: the median over rounds of the coded miss minus the same round's uncoded miss.
 * Pairing within a round cancels what the machine did between rounds; a difference of the two medians instead moved
 * by more than the 10-80 µs it measures (gzip 141 µs in one run, 39 in the next). Noise at or below zero counts
 * as none; runs without a round (or a round with one of the two failed) are not paired.
 */
const missCost = (runsOf: RunsOf, row: OverheadTargetId, coding: Coding): number => {
  const uncoded = new Map(runsOf(row, 'page-miss').map(run => [run.round, run.cpuUs]))
  const differences = runsOf(row, `page-miss-${coding}`).flatMap(run => {
    const plain = run.round === undefined ? undefined : uncoded.get(run.round)
    return plain === undefined ? [] : [run.cpuUs - plain]
  })
  return differences.length > 0 ? Math.max(0, median(differences)) : Number.NaN
}
const hitRatio = (runsOf: RunsOf, row: OverheadTargetId, coding: Coding): number =>
  ratio(medianCpu(runsOf, row, `page-hit-${coding}`), medianCpu(runsOf, row, 'page-hit'))

/** Every compression target judged on the gatehouse row; one not measured (NaN) is left out. */
export function compressionChecks(runsOf: RunsOf): CompressionCheck[] {
  const checks: CompressionCheck[] = []
  const add = (what: string, value: number, max: number): void => {
    if (!Number.isNaN(value)) checks.push({ what, value, max })
  }
  // Divided only by a cost above zero: nothing else says how much dearer ours is.
  const over = (ours: number, theirs: number): number => (theirs > 0 ? ratio(ours, theirs) : Number.NaN)
  const nginx = missCost(runsOf, 'nginx', 'gzip')
  for (const coding of CODINGS) {
    add(`page-hit-${coding}: CPU/req ÷ page-hit (uncoded)`, hitRatio(runsOf, 'gatehouse', coding), CODED_HIT_VS_PLAIN)
    const ours = missCost(runsOf, 'gatehouse', coding)
    const what = `page-miss-${coding}: compression CPU/req (coded − uncoded miss)`
    add(
      `${what} ÷ the floor's (node-minimal)`,
      over(ours, missCost(runsOf, 'node-minimal', coding)),
      MISS_COMPRESSION_VS_FLOOR,
    )
    add(`${what} ÷ nginx's gzip`, over(ours, nginx), MISS_COMPRESSION_VS_NGINX)
  }
  return checks
}

const ROWS: Array<[OverheadTargetId, string]> = [
  ['gatehouse', 'Gatehouse'],
  ['node-minimal', 'minimal Node (floor)'],
  ['nginx', 'nginx'],
  ['caddy', 'Caddy'],
]
const micros = (value: number): string => (Number.isNaN(value) ? '–' : value.toFixed(0))

/** Per coding: each row's miss compression cost and coded hit ÷ uncoded hit, ours over the floor's and nginx's. */
export function compressionTable(runsOf: RunsOf, measured: (row: OverheadTargetId) => boolean): string[] {
  const rows = ROWS.filter(([id]) => measured(id))
  if (!rows.some(([id]) => id === 'gatehouse')) return []
  const floor = (value: (row: OverheadTargetId) => number): string =>
    rows.some(([id]) => id === 'node-minimal') ? verdict(ratio(value('gatehouse'), value('node-minimal'))) : '–'
  const lines = [
    '',
    '### Compression per coding',
    '',
    'CPU µs/req that coding adds to a miss (the median over rounds of coded − uncoded miss in the same round; 0 ' +
      'where noise made it negative), and a ' +
      "coded hit's CPU µs/req with its ratio to the uncoded hit's. Rows that lack a coding or a cache show –.",
    '',
    `| Coding | ${rows.map(([, label]) => `miss: ${label}`).join(' | ')} | miss: ours ÷ floor | ` +
      `${rows.map(([, label]) => `coded hit (÷ uncoded): ${label}`).join(' | ')} |`,
    `| --- | ${Array.from({ length: rows.length * 2 + 1 }, () => '---:').join(' | ')} |`,
  ]
  for (const coding of CODINGS) {
    const miss = (row: OverheadTargetId): number => missCost(runsOf, row, coding)
    const hit = (row: OverheadTargetId): number => hitRatio(runsOf, row, coding)
    const coded = (row: OverheadTargetId): number => medianCpu(runsOf, row, `page-hit-${coding}`) ?? Number.NaN
    lines.push(
      `| ${coding} | ${rows.map(([id]) => micros(miss(id))).join(' | ')} | ${floor(miss)} | ` +
        `${rows.map(([id]) => (Number.isNaN(hit(id)) ? '–' : `${micros(coded(id))} (${verdict(hit(id))})`)).join(' | ')} |`,
    )
  }
  return lines
}
