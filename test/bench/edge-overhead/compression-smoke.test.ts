// A short real run of the edge-overhead section's compression loads (one round of one second each): our proxy,
// nginx with gzip on and Caddy with encode, each probed for the coding it claims before wrk runs, and the report
// showing bytes on the wire and the compression verdicts. The numbers are not judged here: the machine is shared.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { measureEdgeOverhead } from '../../../bench/edge-overhead/section.ts'
import { cellKey } from '../../../bench/report.ts'
import { loadBenchSettings } from '../../../bench/settings.ts'
import { CADDY } from '../../../bench/targets/caddy.ts'
import { NGINX } from '../../../bench/targets/nginx.ts'

const hasWrk = (): boolean => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (error) {
    // wrk --version exits 1 after printing its version: only a missing binary means no wrk.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}
// The bench's tools are Debian packages (wrk, nginx, caddy) that .ci/run installs: elsewhere, skipped with the reason.
const missing = [
  hasWrk() ? undefined : 'wrk',
  existsSync(NGINX) ? undefined : NGINX,
  existsSync(CADDY) ? undefined : CADDY,
].filter(tool => tool !== undefined)

t.test(
  'the compression loads run against Gatehouse, nginx and Caddy in one section',
  {
    timeout: 600_000,
    ...(missing.length > 0 ? { skip: `not installed: ${missing.join(', ')}` } : {}),
  },
  async t => {
    const outputDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-smoke-'))
    t.teardown(() => rmSync(outputDir, { recursive: true, force: true }))
    const settings = loadBenchSettings({
      BENCH_SECONDS: '1',
      BENCH_ROUNDS: '1',
      BENCH_WARMUP_SECONDS: '0',
      BENCH_EDGE_CONNECTIONS: '4',
      BENCH_BCRYPT_COST: '4',
      BENCH_EDGE_TARGETS: 'gatehouse,nginx,caddy',
      BENCH_EDGE_SCENARIOS: 'page-miss,page-miss-gzip,page-miss-zstd,page-hit,page-hit-gzip,page-hit-br',
    })
    const { report, cells } = await measureEdgeOverhead(settings, outputDir)
    const run = (row: string, scenario: string) => cells.get(cellKey(row as never, scenario as never))
    for (const scenario of [
      'page-miss',
      'page-miss-gzip',
      'page-miss-zstd',
      'page-hit',
      'page-hit-gzip',
      'page-hit-br',
    ]) {
      const cell = run('gatehouse', scenario)!
      t.same(cell.failures, [], `gatehouse ${scenario}: probed and run`)
      t.ok(cell.runs[0]!.requests > 0, `gatehouse ${scenario}: answered`)
    }
    const plain = run('gatehouse', 'page-hit')!.runs[0]!.bytesPerResponse
    const gzip = run('gatehouse', 'page-hit-gzip')!.runs[0]!.bytesPerResponse
    t.ok(gzip < plain / 2, `a gzip hit is far smaller on the wire (${gzip.toFixed(0)} vs ${plain.toFixed(0)} bytes)`)
    t.same(run('nginx', 'page-miss-gzip')!.failures, [], 'nginx compresses with gzip on')
    t.equal(run('nginx', 'page-hit-br')!.notApplicable, 'no br')
    t.same(run('caddy', 'page-miss-zstd')!.failures, [], 'Caddy encodes zstd')
    t.match(run('caddy', 'page-hit-gzip')!.notApplicable, /cache/)
    t.match(report, /### page-hit-gzip: .*\n\n\| Row .*bytes\/resp/)
    t.match(report, /page-hit-gzip: CPU\/req ÷ page-hit \(uncoded\)/)
    t.match(
      report,
      /### page-miss-gzip: .*\n\n\| Row .*bytes\/resp \| CPU\/req ÷ nginx \| CPU\/req ÷ caddy \| errors \|/,
    )
    t.match(report, /### page-hit: .*\n\n\| Row .*bytes\/resp \| errors \|/)
  },
)
