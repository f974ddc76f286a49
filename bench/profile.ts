// BENCH_PROFILE=1 npm run bench — where our proxy spends its CPU: for each GET scenario (and any others
// selected with BENCH_SCENARIOS), a fresh single-process proxy, then the bare Node forwarder (the floor), runs
// under node --cpu-prof while wrk drives it for BENCH_SECONDS, then stops; its .cpuprofile is summarised
// (bench/profile-summary.ts) as self time by area and by function, and total time in our own functions. The profiles
// stay in BENCH_OUTPUT_DIR for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './build.js'
import { freePort } from './processes.js'
import { probe } from './probe.js'
import { monotonicUs, summariseProfile, type CpuProfile, type Window } from './profile-summary.js'
import { SCENARIO_IDS, type BenchSettings } from './settings.js'
import { openStack } from './stack.js'
import { startBareForward } from './targets/bare-forward.js'
import { startGatehouse } from './targets/gatehouse.js'
import { runWrk } from './wrk.js'

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

export async function profileProxy(settings: BenchSettings): Promise<void> {
  const chosen = settings.scenarios.length === SCENARIO_IDS.length ? ['uncached-get', 'cached-get'] : settings.scenarios
  const stack = await openStack(settings)
  const outputDir =
    settings.outputDir ?? join(ROOT, '.scratch', `bench-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  const sections: string[] = []
  try {
    for (const scenario of stack.context.scenarios.filter(candidate => chosen.includes(candidate.id))) {
      for (const which of ['gatehouse', 'node-bare'] as const) {
        if (which === 'node-bare' && scenario.cached) continue
        const profileDir = join(outputDir, `${scenario.id}-${which}`)
        mkdirSync(profileDir, { recursive: true })
        const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
        const target =
          which === 'gatehouse'
            ? await startGatehouse(stack.context, {
                port: await freePort(),
                allCores: false,
                name: `profile-${scenario.id}`,
                nodeArgs,
              })
            : await startBareForward(stack.context, await freePort(), nodeArgs)
        let window: Window | undefined
        try {
          const headers = await target.prepare(scenario)
          await probe(target, scenario, headers, stack.context.credentials.caCert)
          log(`profiling ${target.label}, ${scenario.id}, for ${settings.seconds} s`)
          window = { fromUs: monotonicUs(), toUs: 0 }
          const run = await runWrk({
            url: `${target.origin}${scenario.url}`,
            method: scenario.method,
            body: scenario.body,
            headers: { ...scenario.headers, ...headers },
            seconds: settings.seconds,
            connections: settings.connections,
          })
          window.toUs = monotonicUs()
          if (scenario.id === 'write') await stack.context.database.resetWrites()
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
        sections.push(summariseProfile(profile, stack.context.buildDir, window), `Profile: ${join(profileDir, file)}\n`)
      }
    }
    const report = sections.join('\n')
    writeFileSync(join(outputDir, 'profile.md'), report)
    process.stdout.write(report)
    log(`profiles and summary kept in ${outputDir}`)
  } finally {
    await stack.close()
  }
}
