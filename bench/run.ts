// npm run bench — one report of four sections (BENCH_SECTIONS, all by default), run in this order:
// edge-overhead: the edges alone — our proxy, the bare forwarder, a minimal Node edge, nginx, Caddy — in front of a
//   trivial upstream, so each one's CPU per request is its own work, judged against targets (bench/edge-overhead/).
// edge: the edge proxy side by side with nginx and Caddy doing the same work, on loopback, over the real API on a
//   fresh Postgres database. Each scenario (cached GET, uncached GET, a write, a GraphQL query, new TLS
//   connections) drives each target in turn with the same wrk load, interleaved over rounds; the report gives
//   medians, ratios to the direct API, every error, CPU per request and peak memory. A bare Node forwarder is
//   the floor our proxy's own work is measured from.
// api: the API alone beside a minimal reference service doing the same security work (Fastify + pg, one round
//   trip per request), with RLS bypassed and on PGlite too: CPU, rate and p99 ratios against targets (bench/api/).
// tenancy: the API's list query with and without its per-request tenant transaction, as ratios (bench/tenancy.ts).
// See docs/benchmarks.md.
//   BENCH_SECONDS (5)  BENCH_ROUNDS (3)  BENCH_WARMUP_SECONDS (2)  BENCH_CONNECTIONS (32)
//   BENCH_TARGETS / BENCH_SCENARIOS (all)
//   BENCH_BCRYPT_COST (10)  BENCH_LOW_BCRYPT_COST (5)  BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/postgres)
//   BENCH_EDGE_TARGETS / BENCH_EDGE_SCENARIOS (all)  BENCH_EDGE_CONNECTIONS (50): the edge-overhead section's
//   BENCH_SECTIONS (edge-overhead,edge,api,tenancy)
//   BENCH_API_SUBJECTS / BENCH_API_SCENARIOS (all)  BENCH_TENANCY_CONCURRENCY (8)
//   BENCH_OUTPUT_DIR (.scratch/bench-results-<time>)  BENCH_BASELINE_REF: a commit whose proxy runs as one more row
//   BENCH_PROFILE=1: CPU profiles of our proxy instead (bench/profile.ts)
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { basename, join } from 'node:path'
import { ConfigError } from '../common/env-config.ts'
import { buildRefForBench, ROOT } from './build.ts'
import { measureApiSection } from './api/section.ts'
import { measureEdgeOverhead } from './edge-overhead/section.ts'
import { measure } from './measure.ts'
import { freePort } from './processes.ts'
import { renderReport, renderTenancy, type Cell } from './report.ts'
import { loadBenchSettings, reproduceCommand, type BenchSettings, type TargetId } from './settings.ts'
import { openStack } from './stack.ts'
import { measureTenancyCost } from './tenancy.ts'
import { apiTarget } from './targets/api.ts'
import { startBareForward } from './targets/bare-forward.ts'
import { CADDY, startCaddy } from './targets/caddy.ts'
import { startGatehouse } from './targets/gatehouse.ts'
import { NGINX, startNginx } from './targets/nginx.ts'
import type { BenchContext, Target } from './targets/target.ts'
import { requireTool, WRK_TIMEOUT } from './wrk.ts'
import { profileProxy } from './profile.ts'

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

/** Starts the wanted targets into `targets` as it goes, so that a failure still stops those already up. */
async function startTargets(
  context: BenchContext,
  settings: BenchSettings,
  targets: Target[],
  cleanups: Array<() => void>,
): Promise<void> {
  const { htpasswd, lowCostHtpasswd } = context.credentials
  const starters: Record<Exclude<TargetId, 'api'>, () => Promise<Target | undefined>> = {
    'node-bare': async () => startBareForward(context, await freePort()),
    gatehouse: async () => startGatehouse(context, { port: await freePort(), allCores: false }),
    'gatehouse-all-cores': async () => startGatehouse(context, { port: await freePort(), allCores: true }),
    'gatehouse-baseline': async () => {
      if (settings.baselineRef === undefined) {
        log('skipping gatehouse-baseline: set BENCH_BASELINE_REF to a commit to compare with')
        return undefined
      }
      log(`building the proxy at ${settings.baselineRef}`)
      const baseline = await buildRefForBench(settings.baselineRef, `bench-baseline-${randomBytes(4).toString('hex')}`)
      cleanups.push(baseline.remove)
      return startGatehouse(context, {
        port: await freePort(),
        allCores: false,
        baseline: { buildDir: baseline.dir, commit: baseline.commit },
      })
    },
    nginx: async () =>
      startNginx(context, {
        id: 'nginx',
        label: `nginx, bcrypt cost ${htpasswd.cost}`,
        port: await freePort(),
        allCores: false,
        htpasswd,
      }),
    'nginx-all-cores': async () =>
      startNginx(context, {
        id: 'nginx-all-cores',
        label: `nginx all cores, bcrypt cost ${htpasswd.cost}`,
        port: await freePort(),
        allCores: true,
        htpasswd,
      }),
    'nginx-low-cost': async () =>
      startNginx(context, {
        id: 'nginx-low-cost',
        label: `nginx, bcrypt cost ${lowCostHtpasswd.cost} (lowered for nginx only)`,
        port: await freePort(),
        allCores: false,
        htpasswd: lowCostHtpasswd,
      }),
    caddy: async () =>
      startCaddy(context, {
        id: 'caddy',
        label: 'Caddy',
        port: await freePort(),
        adminPort: await freePort(),
        allCores: false,
      }),
    'caddy-all-cores': async () =>
      startCaddy(context, {
        id: 'caddy-all-cores',
        label: 'Caddy all cores',
        port: await freePort(),
        adminPort: await freePort(),
        allCores: true,
      }),
  }
  for (const id of settings.targets) {
    if (id === 'api') continue
    log(`starting ${id}`)
    const target = await starters[id]()
    if (target !== undefined) targets.push(target)
  }
}

interface EdgeSection {
  report: string
  cells: Map<string, Cell>
  serverVersion: string
  tools: string
}

/**
 * The edge section, rendered before its servers stop: the warnings list reads their logs, which are kept in outputDir.
 */
async function measureEdge(settings: BenchSettings, outputDir: string): Promise<EdgeSection> {
  const versions = {
    wrk: await requireTool('wrk', ['--version'], 'apt-get install wrk'),
    nginx: settings.targets.some(id => id.startsWith('nginx'))
      ? await requireTool(NGINX, ['-v'], 'apt-get install nginx')
      : 'not run',
    caddy: settings.targets.some(id => id.startsWith('caddy'))
      ? await requireTool(CADDY, ['version'], 'apt-get install caddy')
      : 'not run',
  }
  const stack = await openStack(settings)
  const targets: Target[] = []
  const cleanups: Array<() => void> = []
  try {
    const { context } = stack
    const api = apiTarget(context, stack.api)
    // The API is always started (everything forwards to it); it is a row only when asked for.
    if (settings.targets.includes('api')) targets.push(api)
    await startTargets(context, settings, targets, cleanups)

    const { cells, memory } = await measure(context, targets, stack.api)
    const rows = settings.targets.includes('api')
      ? [...targets]
      : [{ ...api, label: 'API (only as upstream)' }, ...targets]
    const report = renderReport({
      header: [
        '## Edge: our proxy beside nginx and Caddy, in front of the API',
        '',
        `Load: \`wrk -t1 -c${settings.connections} -d${settings.seconds}s --timeout ${WRK_TIMEOUT}\`, HTTP/1.1 over TLS 1.3 (the API direct: plain HTTP), keep-alive except new-tls; ` +
          `${settings.warmupSeconds > 0 ? `an uncounted ${settings.warmupSeconds} s warm-up per target and scenario, then ` : ''}${settings.rounds} interleaved round(s), medians; errors summed over the rounds. Logins bcrypt cost ${settings.bcryptCost} unless the row says otherwise.`,
      ],
      targets: rows.map(target => ({
        id: target.id,
        label: target.label,
        workers: target.workers,
        omissions: target.omissions,
        logFiles: target.logFiles,
      })),
      scenarios: context.scenarios,
      cells,
      memory,
    })
    // The servers' own logs, for whatever the report's warnings section points at.
    for (const target of rows) {
      for (const file of target.logFiles) {
        if (existsSync(file)) copyFileSync(file, join(outputDir, `${target.id}-${basename(file)}`))
      }
    }
    return {
      report,
      cells,
      serverVersion: context.database.serverVersion,
      tools: `${versions.nginx}; Caddy ${versions.caddy.split(' ')[0]}; ${versions.wrk.split(' [')[0]}`,
    }
  } finally {
    for (const target of targets.reverse()) {
      await target.stop().catch((error: Error) => log(`stopping ${target.id}: ${error.message}`))
    }
    for (const cleanup of cleanups) cleanup()
    await stack.close()
  }
}

/** The sections asked for (BENCH_SECTIONS), one after the other, into one report. */
async function benchmark(settings: BenchSettings): Promise<void> {
  const overhead = settings.sections.includes('edge-overhead')
  const edge = settings.sections.includes('edge')
  const api = settings.sections.includes('api')
  const tenancy = settings.sections.includes('tenancy')
  const overheadRuns = overhead ? settings.overheadTargets.length * settings.overheadScenarios.length : 0
  const edgeRuns = edge
    ? settings.targets.filter(id => id !== 'gatehouse-baseline' || settings.baselineRef !== undefined).length *
      settings.scenarios.length
    : 0
  const apiRuns = api ? settings.apiSubjects.length * settings.apiScenarios.length : 0
  const tenancyRuns = tenancy ? 3 : 0
  const perCell =
    settings.rounds * (settings.seconds + 1.5) + (settings.warmupSeconds > 0 ? settings.warmupSeconds + 1.5 : 0)
  const cells = overheadRuns + edgeRuns + apiRuns + tenancyRuns
  log(
    `up to ${overheadRuns} edge-overhead, ${edgeRuns} edge, ${apiRuns} api and ${tenancyRuns} tenancy cells × ` +
      `${settings.rounds} runs of ${settings.seconds} s (and warm-ups of ${settings.warmupSeconds} s): ` +
      `about ${Math.ceil((cells * perCell) / 60)} minutes once everything is up`,
  )
  const outputDir =
    settings.outputDir ?? join(ROOT, '.scratch', `bench-results-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(outputDir, { recursive: true })

  const sections: string[] = []
  const runs: Record<string, unknown> = {}
  let postgres: string | undefined
  let tools = ''
  let failure: Error | undefined
  if (overhead) {
    // First, on a machine nothing else of the bench is using yet; it needs no database.
    try {
      const measured = await measureEdgeOverhead(settings, outputDir)
      sections.push(measured.report)
      for (const [id, cell] of measured.cells) runs[`edge-overhead/${id}`] = cell
      tools = `; ${measured.tools}`
    } catch (error) {
      // As the api section's: the other sections still run, and the bench exits with the error once they are written.
      if (!edge && !api && !tenancy) throw error
      log(`edge-overhead failed: ${(error as Error).message}`)
      const why = (error as Error).message.split('\n').slice(0, 3).join(' / ')
      sections.push(`## The edge alone, beside nginx and Caddy\n\n⚠ Not measured: ${why}\n`)
      failure = error as Error
    }
  }
  if (edge) {
    const measured = await measureEdge(settings, outputDir)
    sections.push(measured.report)
    Object.assign(runs, Object.fromEntries(measured.cells))
    postgres = measured.serverVersion
    tools ||= `; ${measured.tools}`
  }
  if (api) {
    // After the edge's servers have stopped: its own database and processes, the cores to themselves.
    try {
      const measured = await measureApiSection(settings, outputDir)
      sections.push(measured.report)
      for (const [id, cell] of measured.cells) runs[`api/${id}`] = cell
      postgres ??= measured.serverVersion
    } catch (error) {
      // The other sections' runs are kept in the report; the bench still exits with the error once it is written.
      if (!overhead && !edge && !tenancy) throw error
      log(`api failed: ${(error as Error).message}`)
      sections.push(
        `## The API alone, beside a minimal reference service\n\n⚠ Not measured: ${(error as Error).message.split('\n').slice(0, 3).join(' / ')}\n`,
      )
      failure ??= error as Error
    }
  }
  if (tenancy) {
    // After the other sections' servers have stopped: the query loops then have Postgres and the cores to themselves.
    log('tenancy: seeding its database')
    try {
      const measured = await measureTenancyCost(settings)
      sections.push(renderTenancy(measured))
      for (const [id, cell] of measured.cells) runs[`tenancy/${id}`] = cell
      postgres ??= measured.serverVersion
    } catch (error) {
      // The runs already made are worth keeping.
      if (!overhead && !edge && !api) throw error
      log(`tenancy failed: ${(error as Error).message}`)
      sections.push(`## The API's tenancy cost\n\n⚠ Not measured: ${(error as Error).message.split('\n')[0]}\n`)
    }
  }
  const report = [
    `# Benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${availableParallelism()} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}` +
      `${postgres !== undefined ? `; PostgreSQL ${postgres}` : ''}${tools}.`,
    `Reproduce: \`${reproduceCommand(settings)}\`.`,
    '',
    ...sections,
  ].join('\n')
  writeFileSync(join(outputDir, 'report.md'), report)
  writeFileSync(join(outputDir, 'runs.json'), JSON.stringify(runs, null, 2))
  process.stdout.write(report)
  log(`report and raw runs kept in ${outputDir}`)
  if (failure !== undefined) throw failure
}

let settings: BenchSettings
try {
  settings = loadBenchSettings(process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`bench: ${error.message}\n`)
  process.exit(78)
}
try {
  if (settings.profile) await profileProxy(settings)
  else await benchmark(settings)
  process.exit(0)
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`)
  process.exit(1)
}
