// The api section's verdicts: ratios of medians against the targets, marked met or missed, errors always shown.
import t from 'tap'
import { cellKey } from '../../../bench/report.ts'
import { API_TARGETS, cpuTarget, ratio, renderApiSection, verdict } from '../../../bench/api/report.ts'
import type { ApiRun, ApiSectionResults } from '../../../bench/api/section.ts'
import type { ApiSubject } from '../../../bench/api/subjects.ts'
import type { ApiScenario } from '../../../bench/api/scenarios.ts'

t.test('a ratio is met at its bound, missed past it, and not judged without numbers', async t => {
  t.equal(verdict(1.5, { max: 1.5 }), '1.50× ✓')
  t.equal(verdict(1.51, { max: 1.5 }), '1.51× ✗ (≤ 1.5×)')
  t.equal(verdict(0.7, { min: 0.7 }), '0.70× ✓')
  t.equal(verdict(0.69, { min: 0.7 }), '0.69× ✗ (≥ 0.7×)')
  t.equal(verdict(2), '2.00×')
  t.equal(verdict(Number.NaN, { max: 1 }), '–')
  t.ok(Number.isNaN(ratio(1, 0)))
  t.ok(Number.isNaN(ratio(undefined, 1)))
  t.equal(ratio(3, 2), 1.5)
  t.same(cpuTarget('graphql'), { max: API_TARGETS.cpu.graphql })
  t.same(cpuTarget('list'), { max: API_TARGETS.cpu.rest })
})

const run = (over: Partial<ApiRun>): ApiRun => ({
  requestsPerSecond: 1000,
  p50Ms: 5,
  p99Ms: 20,
  requests: 2000,
  non2xx: 0,
  socketErrors: 0,
  timeouts: 0,
  bytesRead: 2_000_000,
  cpuUs: 300,
  postgresCpuUs: 100,
  ...over,
})
const subject = (id: ApiSubject['id'], label: string): ApiSubject => ({
  id,
  label,
  description: `${label} described`,
  origin: '',
  pid: 0,
  logFile: '/nonexistent',
  onPostgres: true,
  stop: async () => {},
})

t.test(
  'the summary judges the API against the reference and against itself with RLS bypassed, and shows the Prisma floor',
  async t => {
    const results: ApiSectionResults = {
      serverVersion: '15',
      setup: 'Rows and load.',
      subjects: [
        subject('api', 'API'),
        subject('api-rls-bypassed', 'API, RLS bypassed'),
        subject('reference', 'reference'),
        subject('reference-prisma', 'reference on Prisma'),
      ],
      scenarios: [
        { id: 'list', title: 'List' },
        { id: 'graphql', title: 'GraphQL' },
      ] as ApiScenario[],
      cells: new Map([
        [cellKey('api', 'list'), { runs: [run({ cpuUs: 450, requestsPerSecond: 700, p99Ms: 40 })], failures: [] }],
        [cellKey('api-rls-bypassed', 'list'), { runs: [run({ cpuUs: 400 })], failures: [] }],
        [cellKey('reference', 'list'), { runs: [run({ cpuUs: 300, non2xx: 3 })], failures: [] }],
        [cellKey('reference-prisma', 'list'), { runs: [run({ cpuUs: 375 })], failures: [] }],
        [cellKey('api', 'graphql'), { runs: [run({ cpuUs: 900 })], failures: [] }],
        [cellKey('api-rls-bypassed', 'graphql'), { runs: [], failures: ['probe failed'] }],
        [cellKey('reference', 'graphql'), { runs: [run({ cpuUs: 300 })], failures: [] }],
      ]),
    }
    const report = renderApiSection(results)
    const summary = (scenario: string): string => report.split('\n').find(line => line.startsWith(`| ${scenario} |`))!
    // CPU 1.5× (met), the floor on Prisma and the API over it (1.2×, no target), req/s 0.7× (met), p99 2× (met),
    // isolation 1.125× (met; with Postgres 550 ÷ 500), the reference's non-2xx shown.
    t.match(summary('list'), '| list | 450 | 300 | 1.50× ✓ | 375 | 1.20× | 0.70× ✓ | 2.00× ✓ | 1.13× ✓ | 1.10× | ⚠ 3 |')
    // GraphQL's CPU bound is 2×: 3× misses it; no bypassed runs, so no isolation verdict, and its failure is shown;
    // the reference on Prisma did not run it.
    t.match(
      summary('graphql'),
      '| graphql | 900 | 300 | 3.00× ✗ (≤ 2×) | – | – | 1.00× ✓ | 1.00× ✓ | – | – | 0 ⚠ 1 failed run(s) |',
    )
    t.match(report, 'Targets met: 6 of 7.')
    t.match(report, '| API, RLS bypassed | ⚠ no run: every run failed (1) |')
    t.match(report, '- API, RLS bypassed, graphql: probe failed')
  },
)
