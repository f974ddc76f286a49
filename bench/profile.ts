// BENCH_PROFILE=1 npm run bench — where our proxy spends its CPU: for each GET scenario (and any others
// selected with BENCH_SCENARIOS), a fresh single-process proxy, then the bare Node forwarder (the floor), runs
// under node --cpu-prof while wrk drives it for BENCH_SECONDS, then stops; with BENCH_SECTIONS=edge-overhead, the
// BENCH_EDGE_SCENARIOS in front of the trivial upstream, the floor the minimal Node edge. Its .cpuprofile is summarised
// (bench/profile-summary.ts) as self time by area and by function, and total time in our own functions. The profiles
// stay in BENCH_OUTPUT_DIR for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './build.ts'
import { freePort } from './processes.ts'
import { probe } from './probe.ts'
import { monotonicUs, summariseProfile, type CpuProfile, type Window } from './profile-summary.ts'
import { SCENARIO_IDS, type BenchSettings } from './settings.ts'
import { openStack } from './stack.ts'
import { openOverheadStack } from './edge-overhead/section.ts'
import type { Scenario } from './scenarios.ts'
import { startBareForward } from './targets/bare-forward.ts'
import { startGatehouse } from './targets/gatehouse.ts'
import { startMinimalEdge } from './targets/minimal-edge.ts'
import type { Target, TargetContext } from './targets/target.ts'
import { runWrk } from './wrk.ts'

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

/** What is profiled: the scenarios, in front of what, and the floor each is set against. */
interface ProfileBench {
  context: TargetContext
  scenarios: Scenario[]
  connections: number
  /** The floor for a scenario, run with node flags; undefined where it has none (the bare forwarder has no cache). */
  floor(scenario: Scenario, port: number, nodeArgs: string[]): Promise<Target> | undefined
  afterRun(scenario: Scenario): Promise<void>
  close(): Promise<void>
}

/**
 * BENCH_SECTIONS=edge-overhead (without edge): its scenarios in front of the trivial upstream, beside the minimal
 * Node edge. Otherwise the edge section's GET scenarios in front of the API, beside the bare forwarder.
 */
async function openProfileBench(settings: BenchSettings): Promise<ProfileBench> {
  if (settings.sections.includes('edge-overhead') && !settings.sections.includes('edge')) {
    const { context, scenarios, teardown } = await openOverheadStack(settings)
    return {
      context,
      scenarios,
      connections: settings.overheadConnections,
      floor: (_scenario, port, nodeArgs) => startMinimalEdge(context, port, nodeArgs),
      afterRun: async () => {},
      close: teardown.close,
    }
  }
  const chosen = settings.scenarios.length === SCENARIO_IDS.length ? ['uncached-get', 'cached-get'] : settings.scenarios
  const stack = await openStack(settings)
  return {
    context: stack.context,
    scenarios: stack.context.scenarios.filter(candidate => chosen.includes(candidate.id)),
    connections: settings.connections,
    floor: (scenario, port, nodeArgs) =>
      scenario.cached ? undefined : startBareForward(stack.context, port, nodeArgs),
    afterRun: async scenario => {
      if (scenario.id === 'write') await stack.context.database.resetWrites()
    },
    close: stack.close,
  }
}

export async function profileProxy(settings: BenchSettings): Promise<void> {
  const bench = await openProfileBench(settings)
  const { context } = bench
  const outputDir =
    settings.outputDir ?? join(ROOT, '.scratch', `bench-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  const sections: string[] = []
  try {
    for (const scenario of bench.scenarios) {
      for (const which of ['gatehouse', 'floor'] as const) {
        const profileDir = join(outputDir, `${scenario.id}-${which}`)
        const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
        const port = await freePort()
        const target =
          which === 'gatehouse'
            ? await startGatehouse(context, { port, allCores: false, name: `profile-${scenario.id}`, nodeArgs })
            : await bench.floor(scenario, port, nodeArgs)
        if (target === undefined) continue
        mkdirSync(profileDir, { recursive: true })
        let window: Window | undefined
        try {
          const headers = await target.prepare(scenario)
          await probe(target, scenario, headers, context.credentials.caCert)
          log(`profiling ${target.label}, ${scenario.id}, for ${settings.seconds} s`)
          window = { fromUs: monotonicUs(), toUs: 0 }
          const run = await runWrk({
            url: `${target.origin}${scenario.url}`,
            method: scenario.method,
            body: scenario.body,
            headers: { ...scenario.headers, ...headers },
            seconds: settings.seconds,
            connections: bench.connections,
          })
          window.toUs = monotonicUs()
          await bench.afterRun(scenario)
          sections.push(
            `## ${scenario.id}, ${target.label}: ${scenario.title}\n\n${run.requestsPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms under the profiler (${run.non2xx + run.socketErrors + run.timeouts} errors).\n`,
          )
        } finally {
          // The profile is written when the process exits normally (SIGTERM: graceful close, exit 0).
          await target.stop()
        }
        const file = readdirSync(profileDir).find(name => name.endsWith('.cpuprofile'))
        if (file === undefined) throw new Error(`no .cpuprofile written in ${profileDir}`)
        const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile
        sections.push(summariseProfile(profile, context.buildDir, window), `Profile: ${join(profileDir, file)}\n`)
      }
    }
    const report = sections.join('\n')
    writeFileSync(join(outputDir, 'profile.md'), report)
    process.stdout.write(report)
    log(`profiles and summary kept in ${outputDir}`)
  } finally {
    await bench.close()
  }
}
