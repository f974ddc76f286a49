// The measuring loop: every scenario against every target, interleaved over rounds (the order rotated each
// round), each run preceded by a probe, with the target's and the API's CPU per request and the peak memory
// of their process trees. A warm-up run per target and scenario comes first and is not counted: a Node
// process's first thousands of requests run unoptimised code, which made first rounds up to twice as costly.
// The same rounds drive the tenancy section's query variants (bench/tenancy.ts).
import { readProcesses, type Managed } from './processes.ts'
import { probe } from './probe.ts'
import { cellKey, type BenchResults, type Cell, type Run } from './report.ts'
import type { Scenario } from './scenarios.ts'
import type { BenchSettings, ServerId } from './settings.ts'
import type { BenchContext, Target } from './targets/target.ts'
import { runWrk } from './wrk.ts'

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

/** What the rounds are made of: each load against each subject (edge targets, or the tenancy's query variants). */
export interface Grid<S extends { id: string; label: string }, L extends { id: string }, R> {
  subjects: S[]
  loads: L[]
  /** Why a subject cannot do a load; its cell then holds that reason and no runs. */
  notApplicable?(subject: S, load: L): string | undefined
  /** One run; `round` counts from 0, and is undefined for the warm-up. */
  run(subject: S, load: L, seconds: number, round?: number): Promise<R>
  /** Errors that must stop the whole bench rather than fail one run (a subject answering wrongly). */
  fatal?(error: Error): boolean
}

/**
 * An uncounted warm-up run of every cell first (when BENCH_WARMUP_SECONDS > 0), then BENCH_ROUNDS rounds of
 * them, load by load, the subjects' order rotated each round so that none always runs right after the same
 * other. A run that throws is recorded as a failure of its cell, not fatal (unless `grid.fatal` says so): one
 * bad moment must not throw away a quarter of an hour of runs.
 */
export async function runRounds<S extends { id: string; label: string }, L extends { id: string }, R>(
  settings: Pick<BenchSettings, 'rounds' | 'seconds' | 'warmupSeconds'>,
  grid: Grid<S, L, R>,
): Promise<Map<string, Cell<R>>> {
  const cells = new Map<string, Cell<R>>()
  const notApplicable = (subject: S, load: L): string | undefined => grid.notApplicable?.(subject, load)
  if (settings.warmupSeconds > 0) {
    for (const load of grid.loads) {
      for (const subject of grid.subjects) {
        if (notApplicable(subject, load) !== undefined) continue
        log(`warm-up, ${load.id}: ${subject.label}`)
        await grid.run(subject, load, settings.warmupSeconds).catch((error: Error) => {
          if (grid.fatal?.(error) === true) throw error
          log(`  warm-up failed: ${error.message}`)
        })
      }
    }
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (const load of grid.loads) {
      for (const subject of grid.subjects.map((_, index) => grid.subjects[(index + round) % grid.subjects.length]!)) {
        const key = cellKey(subject.id, load.id)
        const cell = cells.get(key) ?? { runs: [], failures: [] }
        cells.set(key, cell)
        const reason = notApplicable(subject, load)
        if (reason !== undefined) {
          cell.notApplicable = reason
          continue
        }
        log(`round ${round + 1}/${settings.rounds}, ${load.id}: ${subject.label}`)
        try {
          cell.runs.push(await grid.run(subject, load, settings.seconds, round))
        } catch (error) {
          if (grid.fatal?.(error as Error) === true) throw error
          cell.failures.push((error as Error).message)
          log(`  run failed: ${(error as Error).message}`)
        }
      }
    }
  }
  return cells
}

export async function measure(
  context: BenchContext,
  targets: Target[],
  api: Managed,
): Promise<Pick<BenchResults, 'cells' | 'memory'>> {
  const { settings } = context
  const memory: BenchResults['memory'] = new Map()
  const apiPid = api.child.pid!
  const sampleMemory = (id: ServerId, now: { mib: number; processes: number }): void => {
    const before = memory.get(id)
    if (before === undefined || now.mib > before.mib) memory.set(id, now)
  }
  const sample = (target: Target): void => {
    const processes = readProcesses()
    sampleMemory(target.id, processes.peakMemoryMiB(target.rootPids()))
    sampleMemory('api', processes.peakMemoryMiB([apiPid]))
  }

  const once = async (target: Target, scenario: Scenario, seconds: number): Promise<Run> => {
    const headers = await target.prepare(scenario)
    await probe(target, scenario, headers, context.credentials.caCert)
    if (scenario.id === 'write') await context.database.resetWrites()
    const sampler = setInterval(() => sample(target), 500)
    const cpuNow = (): { target: number; api: number } => {
      const processes = readProcesses()
      return { target: processes.cpuMs(target.rootPids()), api: processes.cpuMs([apiPid]) }
    }
    const before = cpuNow()
    try {
      const run = await runWrk({
        url: `${target.origin}${scenario.url}`,
        method: scenario.method,
        body: scenario.body,
        headers: { ...scenario.headers, ...headers },
        seconds,
        connections: settings.connections,
      })
      const after = cpuNow()
      const perRequestUs = (from: number, to: number): number =>
        run.requests > 0 ? ((to - from) * 1000) / run.requests : Number.NaN
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

  const cells = await runRounds(settings, {
    subjects: targets,
    loads: context.scenarios,
    notApplicable: (target, scenario) => target.notApplicable(scenario),
    async run(target, scenario, seconds) {
      const run = await once(target, scenario, seconds)
      if (run.non2xx + run.socketErrors + run.timeouts > 0) {
        log(`  ${run.non2xx} non-2xx, ${run.socketErrors} socket errors, ${run.timeouts} timeouts`)
      }
      return run
    },
  })
  sampleMemory('api', readProcesses().peakMemoryMiB([apiPid]))
  return { cells, memory }
}
