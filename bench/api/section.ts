// The api section of npm run bench (alone: npm run bench:api): the API by itself beside a minimal reference
// service doing the same work, each subject a server process whose CPU per request is read from /proc, every
// scenario against every subject in the edge's warm-up and interleaved rounds (bench/measure.ts).
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildForBench, buildRefForBench } from '../build.ts'
import { createTeardown } from '../teardown.ts'
import { runRounds } from '../measure.ts'
import { killAllStarted, readProcesses } from '../processes.ts'
import type { Cell } from '../report.ts'
import type { BenchSettings } from '../settings.ts'
import { requireTool, runWrkRotation, type WrkRun } from '../wrk.ts'
import {
  createApiBenchDatabase,
  planSeed,
  READ_PROJECTS,
  TASKS_PER_PROJECT,
  WRITE_PROJECTS,
  type ApiBenchDatabase,
} from './database.ts'
import { AnswerMismatch, probeSubject } from './probe.ts'
import { renderApiSection } from './report.ts'
import { buildApiScenarios, signScenario, type ApiScenario } from './scenarios.ts'
import { startSubject, type ApiSubject, type SubjectSetup } from './subjects.ts'

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`)
}

/**
 * A wrk run with the CPU used per request meanwhile (µs): by the subject's process, and by the Postgres backends
 * serving it (where row-level security is evaluated; NaN on PGlite, whose work is in the process's own).
 */
export interface ApiRun extends WrkRun {
  cpuUs: number
  postgresCpuUs: number
}

export interface ApiSectionResults {
  serverVersion: string
  /** What was loaded and how it was driven, for the report. */
  setup: string
  subjects: ApiSubject[]
  scenarios: ApiScenario[]
  /** By cellKey(subject, scenario). */
  cells: Map<string, Cell<ApiRun>>
}

interface Section {
  secret: string
  database: ApiBenchDatabase
  subjects: ApiSubject[]
  scenarios: ApiScenario[]
}

/** Before any run, every subject's answer to every scenario, the API's first: a wrong one stops the bench here. */
async function checkAnswers(
  { secret, database, subjects, scenarios }: Section,
  apiAnswers: Map<ApiScenario['id'], unknown>,
): Promise<void> {
  if (!subjects.some(subject => subject.id === 'api')) {
    log('api: the API is not among BENCH_API_SUBJECTS; answers are checked against the seeded rows only')
  }
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      await probeSubject(subject, scenario, signScenario(secret, scenario), apiAnswers)
      if (scenario.writes && subject.onPostgres) await database.resetWrites()
    }
  }
}

/** CPU used so far (ms) by the subject's process and by each Postgres backend of the section's database. */
async function cpuSnapshot(
  database: ApiBenchDatabase,
  subject: ApiSubject,
): Promise<{ server: number; backends: Map<number, number> }> {
  const pids = subject.onPostgres ? await database.clientBackends() : []
  const processes = readProcesses()
  return { server: processes.cpuMs([subject.pid]), backends: new Map(pids.map(pid => [pid, processes.cpuMs([pid])])) }
}

/** One measured (or warm-up) run: fresh signatures, the probe, then wrk, with the writes undone before and after. */
async function runOnce(
  { secret, database }: Section,
  settings: BenchSettings,
  apiAnswers: Map<ApiScenario['id'], unknown>,
  subject: ApiSubject,
  scenario: ApiScenario,
  seconds: number,
): Promise<ApiRun> {
  const signed = signScenario(secret, scenario)
  await probeSubject(subject, scenario, signed, apiAnswers)
  const resets = scenario.writes && subject.onPostgres
  if (resets) await database.resetWrites()
  try {
    const before = await cpuSnapshot(database, subject)
    const run = await runWrkRotation({
      origin: subject.origin,
      requests: signed,
      seconds,
      connections: settings.connections,
    })
    const after = await cpuSnapshot(database, subject)
    if (run.non2xx + run.socketErrors + run.timeouts > 0) {
      log(`  ${run.non2xx} non-2xx, ${run.socketErrors} socket errors, ${run.timeouts} timeouts`)
    }
    // A backend that appeared during the run used all its CPU in it; one that ended during it is not counted.
    const postgresMs = subject.onPostgres
      ? [...after.backends].reduce((sum, [pid, ms]) => sum + ms - (before.backends.get(pid) ?? 0), 0)
      : Number.NaN
    const perRequestUs = (ms: number): number => (run.requests > 0 ? (ms * 1000) / run.requests : Number.NaN)
    return { ...run, cpuUs: perRequestUs(after.server - before.server), postgresCpuUs: perRequestUs(postgresMs) }
  } finally {
    if (resets) await database.resetWrites()
  }
}

/** The section, rendered before its servers stop (the report's warnings read their logs, copied to outputDir). */
export async function measureApiSection(
  settings: BenchSettings,
  outputDir: string,
): Promise<{ report: string; cells: Map<string, Cell<ApiRun>>; serverVersion: string }> {
  await requireTool('wrk', ['--version'], 'apt-get install wrk')
  const teardown = createTeardown(message => log(`api: ${message}`))
  try {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-api-'))
    teardown.add(() => rmSync(dir, { recursive: true, force: true }))
    log('api: compiling the API (tsc -p tsconfig.build.json)')
    const build = await buildForBench(`bench-api-${randomBytes(4).toString('hex')}`)
    teardown.add(build.remove)
    const plan = planSeed()
    log('api: creating and seeding its database')
    const database = await createApiBenchDatabase(settings.postgresUrl, plan)
    teardown.add(database.drop)

    const secret = randomBytes(32).toString('base64url')
    const subjects: ApiSubject[] = []
    // Stopped before the database is dropped (teardown runs in reverse).
    teardown.add(async () => {
      for (const subject of subjects.reverse()) await subject.stop()
    })
    const setup: SubjectSetup = {
      dir,
      buildDir: build.dir,
      identitySecret: secret,
      logLevel: settings.logLevel,
      database,
      plan,
      // Signatures are made just before each run: they must outlive it (as bench/stack.ts).
      identityMaxAgeSeconds: Math.min(600, Math.max(60, settings.seconds + 30)),
    }
    if (settings.apiSubjects.includes('api-baseline') && settings.baselineRef !== undefined) {
      log(`api: compiling the API at ${settings.baselineRef}`)
      const baseline = await buildRefForBench(
        settings.baselineRef,
        `bench-api-baseline-${randomBytes(4).toString('hex')}`,
      )
      teardown.add(baseline.remove)
      setup.baseline = { buildDir: baseline.dir, commit: baseline.commit }
    }
    for (const id of settings.apiSubjects) {
      if (id === 'api-baseline' && settings.baselineRef === undefined) {
        log('api: skipping api-baseline: set BENCH_BASELINE_REF to a commit to compare with')
        continue
      }
      log(`api: starting ${id}`)
      subjects.push(await startSubject(id, setup))
    }
    const section: Section = { secret, database, subjects, scenarios: buildApiScenarios(plan, settings.apiScenarios) }
    const apiAnswers = new Map<ApiScenario['id'], unknown>()
    log('api: checking every subject answers every scenario as the API does')
    await checkAnswers(section, apiAnswers)

    const cells = await runRounds(settings, {
      subjects,
      loads: section.scenarios,
      run: (subject, scenario, seconds) => runOnce(section, settings, apiAnswers, subject, scenario, seconds),
      fatal: error => error instanceof AnswerMismatch,
    })
    const report = renderApiSection({
      serverVersion: database.serverVersion,
      setup:
        `Rows: tenant acme ${READ_PROJECTS} projects × ${TASKS_PER_PROJECT} tasks (the reads), tenant globex ${WRITE_PROJECTS} projects (the updates), ` +
        `in a fresh database, vacuumed and analysed; the projects each create run added are deleted and the table vacuumed after it. ` +
        `Load: \`wrk -t1 -c${settings.connections} -d${settings.seconds}s --timeout 2s\`, plain HTTP on loopback, identity headers signed by the bench as the edge would; ` +
        `${settings.warmupSeconds > 0 ? `an uncounted ${settings.warmupSeconds} s warm-up per subject and scenario, then ` : ''}${settings.rounds} interleaved round(s), medians; errors summed over the rounds. ` +
        'Before each run every subject was checked to answer as the API does (reads: the same body; writes: the same fields).',
      subjects,
      scenarios: section.scenarios,
      cells,
    })
    for (const subject of subjects) {
      if (existsSync(subject.logFile)) copyFileSync(subject.logFile, join(outputDir, `api-section-${subject.id}.log`))
    }
    return { report, cells, serverVersion: database.serverVersion }
  } catch (error) {
    killAllStarted()
    throw error
  } finally {
    await teardown.close()
  }
}
