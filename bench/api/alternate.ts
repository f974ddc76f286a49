// npm run bench:api:alternate -- <ref> <ref> [...] — the API of several commits in one process, answering the api
// section's requests in alternating batches: a before/after of one change. This machine's speed swings by up to
// 1.8x from one second to the next (docs/benchmarks.md, "The API alone"), so a 10 % change is lost between
// processes measured one after the other; batches of a fraction of a second, alternated many times and compared
// round by round, see the same machine. `.` is the working tree.
//
// Each app is built as server/main.ts builds it (buildApp, NODE_ENV=production, no logger) on the section's Postgres
// database and called with inject: the HTTP layer is left out (the same in every build), and the CPU per request is
// the whole process's (apps, Prisma, pg, inject), so a ratio understates the apps' own difference, never overstates it.
//   --scenarios list,get,create,update,graphql (all)  --rounds 40  --batch 100  --concurrency 16
//   BENCH_POSTGRES_URL as for npm run bench. Bad usage exits 64, a bad setting 78 (scripts/cli.ts).
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { runCli, say, UsageError } from '../../scripts/cli.ts'
import { buildForBench, buildRefForBench } from '../build.ts'
import { median } from '../report.ts'
import { API_SCENARIO_IDS, loadBenchSettings, type ApiScenarioId } from '../settings.ts'
import { createTeardown } from '../teardown.ts'
import { createApiBenchDatabase, planSeed } from './database.ts'
import { buildApiScenarios, signScenario } from './scenarios.ts'

export interface AlternateOptions {
  refs: string[]
  scenarios: ApiScenarioId[]
  rounds: number
  batch: number
  concurrency: number
}

const positive = (name: string, value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new UsageError(`--${name}: a whole number above 0, not "${value}"`)
  }
  return number
}

export function parseAlternateArgs(args: string[]): AlternateOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      scenarios: { type: 'string' },
      rounds: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
    },
  })
  if (positionals.length < 2) throw new UsageError('name two or more commits to compare (`.` is the working tree)')
  const scenarios = (values.scenarios ?? API_SCENARIO_IDS.join(',')).split(',')
  const unknown = scenarios.filter(id => !(API_SCENARIO_IDS as readonly string[]).includes(id))
  if (unknown.length > 0) {
    throw new UsageError(`--scenarios: ${unknown.join(', ')} (known: ${API_SCENARIO_IDS.join(', ')})`)
  }
  return {
    refs: positionals,
    scenarios: scenarios as ApiScenarioId[],
    rounds: positive('rounds', values.rounds, 40),
    batch: positive('batch', values.batch, 100),
    concurrency: positive('concurrency', values.concurrency, 16),
  }
}

async function main(options: AlternateOptions, postgresUrl: string): Promise<void> {
  const log = (message: string): void => {
    process.stderr.write(`bench: ${message}\n`)
  }
  const teardown = createTeardown(log)
  try {
    const builds: Array<{ label: string; dir: string }> = []
    for (const [index, ref] of options.refs.entries()) {
      const name = `bench-alternate-${index}-${randomBytes(3).toString('hex')}`
      log(`compiling the API at ${ref}`)
      const build =
        ref === '.' ? { ...(await buildForBench(name)), commit: 'working tree' } : await buildRefForBench(ref, name)
      teardown.add(build.remove)
      builds.push({ label: `${ref} (${build.commit})`, dir: build.dir })
    }
    const plan = planSeed()
    const database = await createApiBenchDatabase(postgresUrl, plan)
    teardown.add(database.drop)
    const secret = randomBytes(32).toString('base64url')
    const apps: FastifyInstance[] = []
    teardown.add(async () => {
      for (const app of apps) await app.close()
    })
    for (const build of builds) {
      const server = (file: string) => import(pathToFileURL(join(build.dir, 'dist/server', file)).href)
      const { buildApp } = await server('app.js')
      const { loadServerConfig } = await server('config.js')
      const config = loadServerConfig({
        NODE_ENV: 'production',
        DATABASE_URL: database.appUrl,
        IDENTITY_SECRET: secret,
        IDENTITY_MAX_AGE_SECONDS: '600',
        LOG_LEVEL: 'warn',
      })
      const app = (await buildApp(config, { logger: false })) as FastifyInstance
      apps.push(app)
      await app.ready()
    }

    for (const scenario of buildApiScenarios(plan, options.scenarios)) {
      const requests = signScenario(secret, scenario)
      const batch = async (app: FastifyInstance): Promise<number> => {
        let sent = 0
        const started = process.cpuUsage()
        await Promise.all(
          Array.from({ length: options.concurrency }, async () => {
            while (sent < options.batch) {
              const request = requests[sent++ % requests.length]!
              const response = await app.inject({
                method: request.method as 'GET',
                url: request.path,
                headers: request.headers,
                ...(request.body !== undefined ? { payload: request.body } : {}),
              })
              if (response.statusCode >= 300) {
                throw new Error(`${scenario.id}: ${request.method} ${request.path} answered ${response.statusCode}`)
              }
            }
          }),
        )
        const used = process.cpuUsage(started)
        return (used.user + used.system) / sent
      }
      const cpu = apps.map(() => [] as number[])
      // Two uncounted rounds warm every build up; the order turns each round, so no build always goes first.
      for (let round = -2; round < options.rounds; round++) {
        const order = round % 2 === 0 ? [...apps.keys()] : [...apps.keys()].reverse()
        for (const index of order) {
          const perRequest = await batch(apps[index]!)
          if (round >= 0) cpu[index]!.push(perRequest)
        }
        await database.resetWrites()
      }
      const first = cpu[0]!
      say(`\n${scenario.id}: CPU µs per request, median of ${options.rounds} rounds of ${options.batch}`)
      for (const [index, build] of builds.entries()) {
        const own = cpu[index]!
        const ratio =
          index === 0
            ? ''
            : `  ÷ first, round by round: ${median(own.map((value, round) => value / first[round]!)).toFixed(3)}`
        say(`  ${build.label.padEnd(32)} ${median(own).toFixed(0).padStart(6)}${ratio}`)
      }
    }
  } finally {
    await teardown.close()
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  runCli('bench:api:alternate', async () => {
    let options: AlternateOptions
    try {
      options = parseAlternateArgs(process.argv.slice(2))
    } catch (error) {
      // node:util's own refusals (an unknown option, a missing value) are bad usage too.
      throw error instanceof UsageError ? error : new UsageError((error as Error).message)
    }
    // Checked before anything is compiled: a bad setting is said at once.
    const { postgresUrl } = loadBenchSettings(process.env)
    await main(options, postgresUrl)
  })
}
