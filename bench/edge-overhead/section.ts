// The edge-overhead section of npm run bench: the edges alone, in front of a trivial upstream that costs next to
// nothing (bench/trivial-upstream.ts), so that each row's CPU per request is its own work; no database. See
// docs/benchmarks.md, "The edge alone, beside nginx and Caddy".
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { buildForBench, buildRefForBench } from '../build.ts'
import { makeSharedCredentials, writeSshaHtpasswd } from '../credentials.ts'
import { runRounds } from '../measure.ts'
import { probe } from '../probe.ts'
import { freePort, killAllStarted, readProcesses, type Managed, type TreeMemory } from '../processes.ts'
import type { Cell } from '../report.ts'
import type { BenchSettings, OverheadTargetId } from '../settings.ts'
import { startBareForward } from '../targets/bare-forward.ts'
import { CADDY, startCaddy } from '../targets/caddy.ts'
import { startGatehouse } from '../targets/gatehouse.ts'
import { startMinimalEdge } from '../targets/minimal-edge.ts'
import { NGINX, startNginx } from '../targets/nginx.ts'
import type { Target, TargetContext } from '../targets/target.ts'
import { startTrivialUpstream, upstreamDirectTarget } from '../targets/trivial-upstream.ts'
import { PROJECT_PAGE, trivialAnswer } from '../trivial-upstream.ts'
import { createTeardown, type Teardown } from '../teardown.ts'
import { requireTool, runWrk, WRK_TIMEOUT } from '../wrk.ts'
import { renderEdgeOverhead, type OverheadRun } from './report.ts'
import { measureResumption, type Resumption } from './resumption.ts'
import { buildOverheadScenarios, type OverheadScenario } from './scenarios.ts'

const log = (message: string): void => {
  process.stderr.write(`bench: edge-overhead: ${message}\n`)
}

type OverheadTarget = Target & { id: OverheadTargetId }

/**
 * The codings each row compresses with, as configured in its target: ours, the baseline build and the minimal Node
 * edge (the floor, with our coder) all three; nginx gzip (Debian's has no Brotli or zstd module); Caddy gzip and
 * zstd (no Brotli encoder in its standard build); the bare forwarder none. A baseline from before compression fails
 * its probe in the coded loads, which the report shows with the reason.
 */
const CODINGS: Partial<Record<OverheadTargetId, ReadonlyArray<string>>> = {
  gatehouse: ['gzip', 'br', 'zstd'],
  'gatehouse-all-cores': ['gzip', 'br', 'zstd'],
  'gatehouse-baseline': ['gzip', 'br', 'zstd'],
  'node-minimal': ['gzip', 'br', 'zstd'],
  nginx: ['gzip'],
  caddy: ['gzip', 'zstd'],
}

/** A row asked for a coding it has is probed for it; one asked for a coding it lacks is not applicable. */
function withCodings(target: OverheadTarget): OverheadTarget {
  const codings = CODINGS[target.id] ?? []
  return {
    ...target,
    notApplicable: scenario =>
      scenario.encoding !== undefined && !codings.includes(scenario.encoding)
        ? `no ${scenario.encoding}`
        : target.notApplicable(scenario),
    expectedHeaders: scenario => ({
      ...target.expectedHeaders(scenario),
      ...(scenario.encoding !== undefined ? { 'content-encoding': new RegExp(`^${scenario.encoding}$`) } : {}),
    }),
  }
}

/** Starts one row; undefined when it is not to be run. */
async function startRow(
  id: OverheadTargetId,
  context: TargetContext,
  upstream: Managed,
  onCleanup: (step: () => void) => void,
): Promise<Target | undefined> {
  const port = await freePort()
  switch (id) {
    case 'upstream-direct':
      return upstreamDirectTarget(upstream, context.apiOrigin)
    case 'gatehouse':
      return startGatehouse(context, { port, allCores: false })
    case 'gatehouse-all-cores':
      return startGatehouse(context, { port, allCores: true })
    case 'gatehouse-baseline': {
      const ref = context.settings.baselineRef
      if (ref === undefined) return undefined
      log(`building the proxy at ${ref}`)
      const baseline = await buildRefForBench(ref, `bench-overhead-baseline-${randomBytes(4).toString('hex')}`)
      onCleanup(baseline.remove)
      const { dir: buildDir, commit } = baseline
      return startGatehouse(context, { port, allCores: false, baseline: { buildDir, commit } })
    }
    case 'node-bare':
      return startBareForward(context, port)
    case 'node-minimal':
      return startMinimalEdge(context, port)
    case 'nginx': {
      // nginx would run bcrypt on every request (it has no verification cache): salted SHA-1 instead, about the
      // cost of the others' cache lookups, so that the row shows nginx's proxying and caching, not bcrypt.
      const htpasswd = writeSshaHtpasswd(join(context.dir, 'htpasswd-ssha'))
      return startNginx(context, { id, label: 'nginx, salted SHA-1 logins', port, allCores: false, htpasswd })
    }
    case 'caddy':
      return startCaddy(context, { id, label: 'Caddy', port, adminPort: await freePort(), allCores: false })
  }
}

interface Runner {
  context: TargetContext
  upstreamPid: number
  memory: Map<OverheadTargetId, TreeMemory>
}

/** One run: fresh credentials, the probe, then wrk, with the row's and the upstream's CPU and the row's RSS. */
async function runOnce(
  { context, upstreamPid, memory }: Runner,
  target: OverheadTarget,
  scenario: OverheadScenario,
  seconds: number,
): Promise<OverheadRun> {
  const headers = await target.prepare(scenario)
  await probe(target, scenario, headers, context.credentials.caCert)
  let rss = { mib: 0, largestMiB: 0 }
  const sample = (): void => {
    const processes = readProcesses()
    const now = processes.residentMiB(target.rootPids())
    rss = { mib: Math.max(rss.mib, now.mib), largestMiB: Math.max(rss.largestMiB, now.largestMiB) }
    const peak = processes.peakMemoryMiB(target.rootPids())
    if (peak.mib > (memory.get(target.id)?.mib ?? -1)) memory.set(target.id, peak)
  }
  const cpu = (): { target: number; upstream: number } => {
    const processes = readProcesses()
    return { target: processes.cpuMs(target.rootPids()), upstream: processes.cpuMs([upstreamPid]) }
  }
  const sampler = setInterval(sample, 250)
  const before = cpu()
  try {
    const run = await runWrk({
      url: `${target.origin}${scenario.url}`,
      method: scenario.method,
      headers: { ...scenario.headers, ...headers },
      seconds,
      connections: context.settings.overheadConnections,
    })
    const after = cpu()
    const perRequest = (from: number, to: number): number =>
      run.requests > 0 ? ((to - from) * 1000) / run.requests : Number.NaN
    const errors = run.non2xx + run.socketErrors + run.timeouts
    if (errors > 0) log(`  ${run.non2xx} non-2xx, ${run.socketErrors} socket errors, ${run.timeouts} timeouts`)
    return {
      ...run,
      // The upstream-direct row's own CPU is the upstream's.
      cpuUs: perRequest(before.target, after.target),
      bytesPerResponse: run.requests > 0 ? run.bytesRead / run.requests : Number.NaN,
      upstreamCpuUs: perRequest(before.upstream, after.upstream),
      rssMiB: rss.mib,
      largestRssMiB: rss.largestMiB,
    }
  } finally {
    clearInterval(sampler)
    sample()
  }
}

function setup(settings: BenchSettings): string {
  const warmUp =
    settings.warmupSeconds > 0 ? `an uncounted ${settings.warmupSeconds} s warm-up per row and scenario, then ` : ''
  const wrk = `wrk -t1 -c${settings.overheadConnections} -d${settings.seconds}s --timeout ${WRK_TIMEOUT}`
  return (
    'A trivial upstream (bench/trivial-upstream.ts: one node:http process, the same ' +
    `${trivialAnswer('/').body.length} bytes of JSON to every request, \`Cache-Control: public, max-age=60\`, ` +
    "`no-store` for `?cache=no`) behind each row; its CPU is not the row's but shown beside it. " +
    `Load: \`${wrk}\`, HTTP/1.1 over TLS 1.3 with one ECDSA P-256 certificate (upstream direct: plain HTTP), ` +
    `basic auth on every request (bcrypt cost ${settings.bcryptCost}, each checked once and then remembered; ` +
    `nginx: salted SHA-1), keep-alive except new-tls; ${warmUp}${settings.rounds} interleaved round(s), medians; ` +
    "errors summed over the rounds. CPU: the row's process tree, from /proc, over the run. " +
    'RSS: the highest Σ VmRSS sampled every 250 ms during the ' +
    'runs. Resumption: 100 TLS connections one after the other, each offering the ticket the previous one received. ' +
    'Compression (page-*): the 20-project page (bench/trivial-upstream.ts PROJECT_PAGE, ' +
    `${PROJECT_PAGE.length} bytes); bytes/resp is what wrk read per response, headers included; nginx gzip at its ` +
    'default level 1, Caddy encode with gzip at level 1 and zstd at its default, ours and the minimal Node edge at ' +
    'COMPRESSION_*_LEVEL defaults (the same one-shot coder, proxy/compression/codecs.ts).'
  )
}

export interface EdgeOverheadSection {
  report: string
  cells: Map<string, Cell<OverheadRun>>
  tools: string
}

export interface OverheadStack {
  context: TargetContext
  scenarios: OverheadScenario[]
  upstream: Managed
  teardown: Teardown
}

/** What the section's rows stand on: the build, the certificate and logins, and the trivial upstream. */
export async function openOverheadStack(settings: BenchSettings): Promise<OverheadStack> {
  const teardown = createTeardown(log)
  try {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-overhead-'))
    teardown.add(() => rmSync(dir, { recursive: true, force: true }))
    log("compiling the proxy and the bench's servers (tsc -p tsconfig.build.json and bench/build.ts BENCH_ENTRIES)")
    const build = await buildForBench(`bench-overhead-${randomBytes(4).toString('hex')}`)
    teardown.add(build.remove)
    const credentials = await makeSharedCredentials(dir, settings.bcryptCost, settings.lowBcryptCost)
    const { upstream, origin } = await startTrivialUpstream(build.dir, dir, await freePort())
    teardown.add(() => upstream.stop())
    const scenarios = buildOverheadScenarios(settings.overheadScenarios)
    const context: TargetContext = {
      dir,
      buildDir: build.dir,
      identitySecret: randomBytes(32).toString('base64url'),
      credentials,
      apiOrigin: origin,
      scenarios,
      settings,
      // Nothing verifies the signatures here; nginx's and Caddy's tables are still remade before each run.
      identityMaxAgeSeconds: Math.min(600, Math.max(60, settings.seconds + 30)),
    }
    return { context, scenarios, upstream, teardown }
  } catch (error) {
    killAllStarted()
    await teardown.close()
    throw error
  }
}

export async function measureEdgeOverhead(settings: BenchSettings, outputDir: string): Promise<EdgeOverheadSection> {
  const wanted = settings.overheadTargets.filter(
    id => id !== 'gatehouse-baseline' || settings.baselineRef !== undefined,
  )
  if (wanted.length < settings.overheadTargets.length) {
    log('skipping gatehouse-baseline: set BENCH_BASELINE_REF to a commit to compare with')
  }
  const tools = [
    (await requireTool('wrk', ['--version'], 'apt-get install wrk')).split(' [')[0]!,
    wanted.includes('nginx') ? await requireTool(NGINX, ['-v'], 'apt-get install nginx') : 'nginx not run',
    wanted.includes('caddy')
      ? `Caddy ${(await requireTool(CADDY, ['version'], 'apt-get install caddy')).split(' ')[0]}`
      : 'Caddy not run',
  ]
  const { context, scenarios, upstream, teardown } = await openOverheadStack(settings)
  const targets: OverheadTarget[] = []
  try {
    // Stopped before the upstream (teardown runs in reverse).
    teardown.add(async () => {
      for (const target of targets.reverse()) {
        await target.stop().catch((error: Error) => log(`stopping ${target.id}: ${error.message}`))
      }
    })
    for (const id of wanted) {
      log(`starting ${id}`)
      const target = await startRow(id, context, upstream, step => teardown.add(step))
      if (target !== undefined) targets.push(withCodings({ ...target, id }))
    }

    const runner: Runner = { context, upstreamPid: upstream.child.pid!, memory: new Map() }
    const cells = await runRounds(settings, {
      subjects: targets,
      loads: scenarios,
      notApplicable: (target, scenario) => target.notApplicable(scenario),
      run: async (target, scenario, seconds, round) => ({
        ...(await runOnce(runner, target, scenario, seconds)),
        round,
      }),
    })
    const resumption = new Map<OverheadTargetId, Resumption | string>()
    for (const target of targets.filter(target => target.origin.startsWith('https:'))) {
      log(`TLS session resumption: ${target.label}`)
      resumption.set(
        target.id,
        await measureResumption(new URL('/health', target.origin), context.credentials.caCert).catch(
          (error: Error) => `⚠ ${error.message}`,
        ),
      )
    }
    const report = renderEdgeOverhead({
      setup: setup(settings),
      rows: targets.map(({ id, label, workers, omissions, logFiles }) => ({ id, label, workers, omissions, logFiles })),
      scenarios,
      cells,
      memory: runner.memory,
      resumption,
    })
    for (const target of targets) {
      for (const file of target.logFiles) {
        if (existsSync(file)) copyFileSync(file, join(outputDir, `edge-overhead-${target.id}-${basename(file)}`))
      }
    }
    return { report, cells, tools: tools.join('; ') }
  } catch (error) {
    killAllStarted()
    throw error
  } finally {
    await teardown.close()
  }
}
