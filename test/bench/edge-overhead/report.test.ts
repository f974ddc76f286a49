// The edge-overhead section's verdicts: our proxy's ratios to Caddy, nginx and the minimal edge against its targets,
// memory against its bound, PROXY_WORKERS=auto against one process, and the report's tables.
import t from 'tap'
import { cellKey, type Cell } from '../../../bench/report.ts'
import {
  edgeOverheadChecks,
  renderEdgeOverhead,
  type OverheadResults,
  type OverheadRun,
} from '../../../bench/edge-overhead/report.ts'
import type { Resumption } from '../../../bench/edge-overhead/resumption.ts'
import { buildOverheadScenarios } from '../../../bench/edge-overhead/scenarios.ts'
import type { TreeMemory } from '../../../bench/processes.ts'
import type { OverheadTargetId } from '../../../bench/settings.ts'

const run = (over: Partial<OverheadRun>): OverheadRun => ({
  requestsPerSecond: 1000,
  p50Ms: 5,
  p99Ms: 20,
  requests: 5000,
  non2xx: 0,
  socketErrors: 0,
  timeouts: 0,
  bytesRead: 5_000_000,
  cpuUs: 100,
  upstreamCpuUs: 30,
  bytesPerResponse: 1000,
  rssMiB: 90,
  largestRssMiB: 90,
  round: 0,
  ...over,
})

/** Cells: [row, scenario, how its run differs from the default, or why n/a]; memory: [row, MiB]. */
function results(
  cells: Array<[OverheadTargetId, string, Partial<OverheadRun> | string]>,
  memory: Array<[OverheadTargetId, number]>,
): OverheadResults {
  const rows = [...new Set(cells.map(([id]) => id))].map(id => ({
    id,
    label: `row ${id}`,
    workers: '1',
    omissions: [],
    logFiles: [],
  }))
  return {
    setup: 'The setup.',
    rows,
    scenarios: buildOverheadScenarios(['forwarded', 'cache-hit', 'new-tls']),
    cells: new Map(
      cells.map(([id, scenario, over]): [string, Cell<OverheadRun>] => [
        cellKey(id, scenario),
        typeof over === 'string'
          ? { runs: [], failures: [], notApplicable: over }
          : { runs: [run(over)], failures: [] },
      ]),
    ),
    memory: new Map(
      memory.map(([id, largestMiB]): [OverheadTargetId, TreeMemory] => [
        id,
        { mib: largestMiB, processes: 1, largestMiB },
      ]),
    ),
    resumption: new Map<OverheadTargetId, Resumption | string>([
      ['gatehouse', { attempts: 100, resumed: 50 }],
      ['nginx', 'not measured'],
    ]),
  }
}

const measured = results(
  [
    ['gatehouse', 'forwarded', { cpuUs: 180, requestsPerSecond: 3320 }],
    ['gatehouse', 'cache-hit', { cpuUs: 100, requestsPerSecond: 6000, non2xx: 2 }],
    ['gatehouse', 'new-tls', { cpuUs: 900, requestsPerSecond: 300 }],
    ['gatehouse-all-cores', 'forwarded', { requestsPerSecond: 3320 }],
    ['gatehouse-all-cores', 'cache-hit', { requestsPerSecond: 5000 }],
    ['gatehouse-all-cores', 'new-tls', { requestsPerSecond: 500 }],
    ['node-minimal', 'forwarded', { cpuUs: 170 }],
    ['nginx', 'forwarded', { cpuUs: 90 }],
    ['nginx', 'cache-hit', { cpuUs: 50, requestsPerSecond: 12000 }],
    ['caddy', 'forwarded', { cpuUs: 150, requestsPerSecond: 4000 }],
    ['caddy', 'cache-hit', 'no cache module'],
    ['caddy', 'new-tls', { cpuUs: 600, requestsPerSecond: 800 }],
  ],
  [
    ['gatehouse', 130],
    ['gatehouse-all-cores', 110],
  ],
)

t.test('each target judged on the gatehouse row, at its bound', async t => {
  const checks = Object.fromEntries(edgeOverheadChecks(measured).map(check => [check.what, check.shown]))
  t.same(checks, {
    'forwarded: CPU/req ÷ caddy': '1.20× ✓',
    'forwarded: CPU/req ÷ node-minimal': '1.06× ✓',
    'forwarded: req/s ÷ caddy': '0.83× ✓',
    'cache-hit: CPU/req ÷ nginx': '2.00× ✗ (≤ 1.6×)',
    'cache-hit: req/s ÷ nginx': '0.50× ✗ (≥ 0.6×)',
    'new-tls: req/s ÷ caddy': '0.38× ✗ (≥ 0.5×)',
    'peak RSS of one process, gatehouse': '130 MiB ✗ (≤ 120 MiB)',
    'peak RSS of one process, gatehouse-all-cores': '110 MiB ✓',
    'forwarded: req/s PROXY_WORKERS=auto ÷ one process': '1.00× ✓',
    'cache-hit: req/s PROXY_WORKERS=auto ÷ one process': '0.83× ✗ (≥ 1×)',
    'new-tls: req/s PROXY_WORKERS=auto ÷ one process': '1.67× ✓',
  })
})

t.test('a row not run leaves its targets unjudged, not failed', async t => {
  const checks = edgeOverheadChecks(results([['gatehouse', 'forwarded', {}]], []))
  const what = 'forwarded: CPU/req ÷ caddy'
  t.same(
    checks.find(check => check.what === what),
    { what, shown: '–', met: undefined },
  )
  t.notOk(checks.some(check => check.met === false))
})

t.test('the report: the verdicts, a table per scenario, n/a with its reason, memory and resumption', async t => {
  const report = renderEdgeOverhead(measured)
  t.match(report, 'Targets met: 6 of 11.')
  const line = (start: string, after: string): string =>
    report
      .slice(report.indexOf(after))
      .split('\n')
      .find(text => text.startsWith(start))!
  t.equal(
    line('| row gatehouse |', '### forwarded'),
    '| row gatehouse | 1 | 3320 | 5.00 | 20.00 | 180 | 30 | 90 (90) | 1.20× ✓ | 1.06× ✓ | 0.83× ✓ | 0 |',
  )
  // Other rows get ratios without verdicts; the row compared with gets none.
  t.equal(
    line('| row nginx |', '### forwarded'),
    '| row nginx | 1 | 1000 | 5.00 | 20.00 | 90 | 30 | 90 (90) | 0.60× | 0.53× | 0.25× | 0 |',
  )
  t.equal(
    line('| row caddy |', '### forwarded'),
    '| row caddy | 1 | 4000 | 5.00 | 20.00 | 150 | 30 | 90 (90) |  | 0.88× |  | 0 |',
  )
  t.match(line('| row gatehouse |', '### cache-hit'), /\| 2\.00× ✗ \(≤ 1\.6×\) \| 0\.50× ✗ \(≥ 0\.6×\) \| ⚠ 2 \|$/)
  t.match(line('| row caddy |', '### cache-hit'), '| row caddy | n/a: no cache module |')
  t.match(report, '| row gatehouse | 1 | 130 | 130 | 50 of 100 (50 %) |')
  t.match(report, '| row nginx | – | – | – | not measured |')
})

t.test(
  "compression: coded hits against the uncoded hit, a miss's compression against the floor's and nginx's",
  async t => {
    const compression = results(
      [
        ['gatehouse', 'page-hit', { cpuUs: 100, bytesPerResponse: 5200 }],
        ['gatehouse', 'page-hit-gzip', { cpuUs: 110, bytesPerResponse: 1100 }],
        ['gatehouse', 'page-hit-br', { cpuUs: 130 }],
        ['gatehouse', 'page-miss', { cpuUs: 200 }],
        ['gatehouse', 'page-miss-gzip', { cpuUs: 240 }],
        ['gatehouse', 'page-miss-zstd', { cpuUs: 190 }],
        ['node-minimal', 'page-miss', { cpuUs: 150 }],
        ['node-minimal', 'page-miss-gzip', { cpuUs: 175 }],
        ['node-minimal', 'page-miss-zstd', { cpuUs: 170 }],
        ['node-minimal', 'page-hit', { cpuUs: 50 }],
        ['node-minimal', 'page-hit-gzip', { cpuUs: 52 }],
        ['nginx', 'page-miss', { cpuUs: 60 }],
        ['nginx', 'page-miss-gzip', { cpuUs: 110 }],
        ['nginx', 'page-hit-br', 'no br'],
      ],
      [],
    )
    compression.scenarios = buildOverheadScenarios([
      'page-miss',
      'page-miss-gzip',
      'page-miss-zstd',
      'page-hit',
      'page-hit-gzip',
      'page-hit-br',
    ])
    const checks = Object.fromEntries(edgeOverheadChecks(compression).map(check => [check.what, check.shown]))
    t.equal(checks['page-hit-gzip: CPU/req ÷ page-hit (uncoded)'], '1.10× ✓')
    t.equal(checks['page-hit-br: CPU/req ÷ page-hit (uncoded)'], '1.30× ✗ (≤ 1.2×)')
    t.equal(checks["page-miss-gzip: compression CPU/req (coded − uncoded miss) ÷ nginx's gzip"], '0.80× ✓')
    t.equal(
      checks["page-miss-zstd: compression CPU/req (coded − uncoded miss) ÷ nginx's gzip"],
      '0.00× ✓',
      'noise below zero counts as none',
    )
    t.notOk("page-miss-br: compression CPU/req (coded − uncoded miss) ÷ nginx's gzip" in checks, 'not run: not judged')
    t.equal(
      checks["page-miss-gzip: compression CPU/req (coded − uncoded miss) ÷ the floor's (node-minimal)"],
      '1.60× ✗ (≤ 1.2×)',
    )
    t.equal(
      checks["page-miss-zstd: compression CPU/req (coded − uncoded miss) ÷ the floor's (node-minimal)"],
      '0.00× ✓',
    )
    const report = renderEdgeOverhead(compression)
    t.match(report, /### page-hit-gzip: [^\n]*\n\n\| Row [^\n]*\| bytes\/resp \| CPU\/req ÷ nginx \| errors \|/)
    t.match(report, '| row gatehouse | 1 | 1000 | 5.00 | 20.00 | 110 | 30 | 90 (90) | 1100 | – | 0 |')
    t.match(report, '| row nginx | n/a: no br |')
    // Per coding: what coding adds to each row's miss, ours over the floor's, and each row's coded hit.
    t.match(report, '| Coding | miss: Gatehouse | miss: minimal Node (floor) | miss: nginx | miss: ours ÷ floor |')
    t.match(report, '| gzip | 40 | 25 | 50 | 1.60× | 110 (1.10×) | 52 (1.04×) | – |')
    t.match(report, '| br | – | – | – | – | 130 (1.30×) | – | – |')
    t.match(report, '| zstd | 0 | 20 | – | 0.00× | – | – | – |')
  },
)

t.test("a miss's compression cost pairs each coded run with the same round's uncoded run", async t => {
  const rounds = (scenario: string, cpus: number[]): [string, Cell<OverheadRun>] => [
    cellKey('gatehouse', scenario),
    { runs: cpus.map((cpuUs, round) => run({ cpuUs, round })), failures: [] },
  ]
  const paired = results([], [])
  paired.rows = [{ id: 'gatehouse', label: 'row gatehouse', workers: '1', omissions: [], logFiles: [] }]
  paired.scenarios = buildOverheadScenarios(['page-miss', 'page-miss-gzip', 'page-miss-br'])
  // The machine slowed between rounds, and round 3's coded run hit a bad moment: the medians differ by 115 µs
  // (200 → 315), the same-round differences say 15.
  paired.cells = new Map([
    rounds('page-miss', [100, 300, 200]),
    rounds('page-miss-gzip', [115, 315, 400]),
    // A failed round is left unpaired: rounds 0 and 2 only, differences 20 and 30 (the upper median of an even count).
    [
      cellKey('gatehouse', 'page-miss-br'),
      { runs: [run({ cpuUs: 120, round: 0 }), run({ cpuUs: 230, round: 2 })], failures: ['x'] },
    ],
  ])
  const report = renderEdgeOverhead(paired)
  t.match(report, '| gzip | 15 |')
  t.match(report, '| br | 30 |')
})
