// The bench's settings: the edge-overhead section first by default, its own rows, loads and connections.
import t from 'tap'
import { loadBenchSettings, reproduceCommand } from '../../bench/settings.ts'

t.test('the edge-overhead section runs first, on 50 connections, every row and load', async t => {
  const settings = loadBenchSettings({})
  t.same(settings.sections, ['edge-overhead', 'edge', 'api', 'tenancy'])
  t.equal(settings.overheadConnections, 50)
  t.same(settings.overheadScenarios, [
    'forwarded',
    'cache-hit',
    'new-tls',
    'page-miss',
    'page-miss-gzip',
    'page-miss-br',
    'page-miss-zstd',
    'page-hit',
    'page-hit-gzip',
    'page-hit-br',
    'page-hit-zstd',
  ])
  t.equal(settings.overheadTargets[0], 'upstream-direct')
  t.equal(reproduceCommand(settings), 'BENCH_SECONDS=5 BENCH_ROUNDS=3 npm run bench')
})

t.test('rows and loads in their own order whatever the order asked, repeated by the reproduce command', async t => {
  const settings = loadBenchSettings({
    BENCH_SECTIONS: 'edge-overhead',
    BENCH_EDGE_TARGETS: 'caddy,gatehouse',
    BENCH_EDGE_SCENARIOS: 'new-tls,forwarded',
    BENCH_EDGE_CONNECTIONS: '20',
  })
  t.same(settings.overheadTargets, ['gatehouse', 'caddy'])
  t.same(settings.overheadScenarios, ['forwarded', 'new-tls'])
  t.equal(
    reproduceCommand(settings),
    'BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_SECTIONS=edge-overhead ' +
      'BENCH_EDGE_TARGETS=gatehouse,caddy ' +
      'BENCH_EDGE_SCENARIOS=forwarded,new-tls BENCH_EDGE_CONNECTIONS=20 npm run bench',
  )
  t.throws(() => loadBenchSettings({ BENCH_EDGE_TARGETS: 'apache' }), /BENCH_EDGE_TARGETS/)
})
