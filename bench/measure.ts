// The measuring loop: every scenario against every target, interleaved over rounds (the order rotated each
// round), each run preceded by a probe, with the target's and the API's CPU per request and the peak memory
// of their process trees. A warm-up run per target and scenario comes first and is not counted: a Node
// process's first thousands of requests run unoptimised code, which made first rounds up to twice as costly.
import { readProcesses, type Managed } from './processes.js'
import { probe } from './probe.js'
import { cellKey, type BenchResults } from './report.js'
import type { Scenario } from './scenarios.js'
import type { TargetId } from './settings.js'
import type { BenchContext, Target } from './targets/target.js'
import { runWrk, type WrkRun } from './wrk.js'

const log = (message: string): void => { process.stderr.write(`bench: ${message}\n`) }

export async function measure (context: BenchContext, targets: Target[], api: Managed): Promise<Pick<BenchResults, 'cells' | 'memory'>> {
  const { settings } = context
  const cells: BenchResults['cells'] = new Map()
  const memory: BenchResults['memory'] = new Map()
  const apiPid = api.child.pid!
  const sampleMemory = (id: TargetId, now: { mib: number, processes: number }): void => {
    const before = memory.get(id)
    if (before === undefined || now.mib > before.mib) memory.set(id, now)
  }
  const sample = (target: Target): void => {
    const processes = readProcesses()
    sampleMemory(target.id, processes.peakMemoryMiB(target.rootPids()))
    sampleMemory('api', processes.peakMemoryMiB([apiPid]))
  }

  const once = async (target: Target, scenario: Scenario, seconds: number): Promise<WrkRun & { targetCpuUs: number, apiCpuUs: number }> => {
    const headers = await target.prepare(scenario)
    await probe(target, scenario, headers, context.credentials.caCert)
    if (scenario.id === 'write') await context.database.resetWrites()
    const sampler = setInterval(() => sample(target), 500)
    const cpuNow = (): { target: number, api: number } => {
      const processes = readProcesses()
      return { target: processes.cpuMs(target.rootPids()), api: processes.cpuMs([apiPid]) }
    }
    const before = cpuNow()
    try {
      const run = await runWrk({
        url: `${target.origin}${scenario.url}`, method: scenario.method, body: scenario.body,
        headers: { ...scenario.headers, ...headers }, seconds, connections: settings.connections,
      })
      const after = cpuNow()
      const perRequestUs = (from: number, to: number): number => run.requests > 0 ? (to - from) * 1000 / run.requests : Number.NaN
      return {
        ...run,
        targetCpuUs: target.id === 'api' ? Number.NaN : perRequestUs(before.target, after.target),
        apiCpuUs: perRequestUs(before.api, after.api),
      }
    } finally {
      clearInterval(sampler)
      sample(target)
      if (scenario.id === 'write') await context.database.resetWrites()
    }
  }

  if (settings.warmupSeconds > 0) {
    for (const scenario of context.scenarios) {
      for (const target of targets) {
        if (target.notApplicable(scenario) !== undefined) continue
        log(`warm-up, ${scenario.id}: ${target.label}`)
        await once(target, scenario, settings.warmupSeconds).catch((error: Error) => log(`  warm-up failed: ${error.message}`))
      }
    }
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (const scenario of context.scenarios) {
      // Rotated each round, so no target always runs right after the same other one.
      for (const target of targets.map((_, index) => targets[(index + round) % targets.length]!)) {
        const cell = cells.get(cellKey(target.id, scenario.id)) ?? { runs: [], failures: [] }
        cells.set(cellKey(target.id, scenario.id), cell)
        const notApplicable = target.notApplicable(scenario)
        if (notApplicable !== undefined) { cell.notApplicable = notApplicable; continue }
        log(`round ${round + 1}/${settings.rounds}, ${scenario.id}: ${target.label}`)
        let run: Awaited<ReturnType<typeof once>>
        try {
          run = await once(target, scenario, settings.seconds)
        } catch (error) {
          // Counted and shown, not fatal: one bad moment must not throw away a quarter of an hour of runs.
          cell.failures.push((error as Error).message)
          log(`  run failed: ${(error as Error).message}`)
          continue
        }
        cell.runs.push(run)
        if (run.non2xx + run.socketErrors + run.timeouts > 0) log(`  ${run.non2xx} non-2xx, ${run.socketErrors} socket errors, ${run.timeouts} timeouts`)
      }
    }
  }
  sampleMemory('api', readProcesses().peakMemoryMiB([apiPid]))
  return { cells, memory }
}
