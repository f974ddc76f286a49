// npm run bench:tenancy — what the API's tenant isolation costs: the same 20-row project list, on real Postgres,
//   A. as a plain query filtered by tenant_id (superuser, RLS bypassed, no transaction): the "where clause only" design;
//   B. in a transaction that sets app.tenant_id first, as the superuser (RLS bypassed): the round trips alone;
//   C. what the API does: that transaction as the non-owner app role, so row-level security filters every row.
// Each variant runs for a fixed time from CONCURRENCY loops over a pool of as many connections, interleaved and
// repeated; medians are printed as a Markdown table with ratios to A. C/B isolates the policy; B/A the round trips.
//   BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/postgres)  BENCH_SECONDS (5)  BENCH_ROUNDS (3)
//   BENCH_CONCURRENCY (8)
import { randomUUID } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { migrate } from '../server/db/migrate.js'
import { createPostgresClient, type PrismaClient } from '../server/db/prisma-client.js'
import { createTenant } from '../server/db/seed.js'
import { pgSession } from '../server/db/sql-session.js'
import { tenantScope } from '../server/db/tenant-scope.js'

export interface TenancyBenchOptions { serverUrl: string, seconds: number, rounds: number, concurrency: number }

interface Sample { perSecond: number, p50Ms: number, p99Ms: number }

const PROJECTS_PER_TENANT = 500
const TENANTS = 20
const PAGE = 20

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

function databaseUrl (serverUrl: string, database: string, user?: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  if (user !== undefined) url.username = user
  return url.toString()
}

async function drive (seconds: number, concurrency: number, once: () => Promise<unknown>): Promise<Sample> {
  const latencies: number[] = []
  const deadline = performance.now() + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const started = performance.now()
      await once()
      latencies.push(performance.now() - started)
    }
  }))
  latencies.sort((a, b) => a - b)
  return { perSecond: latencies.length / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) }
}

/** Loads TENANTS tenants of PROJECTS_PER_TENANT projects each, so the policy and the index have rows to skip. */
async function seed (owner: pg.Client): Promise<string[]> {
  const session = pgSession(owner)
  await migrate(session)
  const tenants: string[] = []
  for (let index = 0; index < TENANTS; index++) {
    const tenantId = await createTenant(session, { slug: `bench-${index}`, name: `Bench ${index}`, plan: 'pro' })
    await owner.query('BEGIN')
    await owner.query("SELECT set_config('app.tenant_id', $1, TRUE)", [tenantId])
    await owner.query(
      `INSERT INTO projects (id, tenant_id, name, description, created_at, updated_at)
       SELECT gen_random_uuid(), $1, 'Project ' || n, 'Seeded for the tenancy benchmark', now() - n * interval '1 minute', now()
       FROM generate_series(1, $2) AS n`, [tenantId, PROJECTS_PER_TENANT])
    await owner.query('COMMIT')
    tenants.push(tenantId)
  }
  await owner.query('ANALYZE projects')
  return tenants
}

export async function measureTenancyCost (options: TenancyBenchOptions): Promise<string[]> {
  const database = `gatehouse_bench_tenancy_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: options.serverUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
  const clients: Array<{ prisma: PrismaClient, pool: pg.Pool }> = []
  try {
    const owner = new pg.Client({ connectionString: databaseUrl(options.serverUrl, database) })
    await owner.connect()
    const tenants = await seed(owner).finally(() => owner.end())

    const pool = (url: string) => {
      const client = createPostgresClient({ url, poolMax: options.concurrency, connectTimeoutMs: 5000, statementTimeoutMs: 10_000 })
      // DROP DATABASE … WITH (FORCE) ends whatever the pools still hold; that is expected here, not a crash.
      client.pool.on('error', () => {})
      clients.push(client)
      return client.prisma.$extends(tenantScope())
    }
    const superuser = pool(databaseUrl(options.serverUrl, database))
    const appRole = pool(databaseUrl(options.serverUrl, database, 'gatehouse_app'))
    const page = { orderBy: [{ createdAt: 'asc' as const }, { id: 'asc' as const }], take: PAGE + 1 }
    let next = 0
    const tenant = (): string => tenants[next++ % tenants.length]!

    const variants: Array<[string, () => Promise<unknown>]> = [
      ['A. where tenant_id = …, no transaction, RLS bypassed', () => superuser.project.findMany({ where: { tenantId: tenant() }, ...page })],
      ['B. tenant transaction, RLS bypassed (round trips only)', () => superuser.$withTenant(tenant(), (tx) => tx.project.findMany({ where: { tenantId: tenant() }, ...page }))],
      ['C. tenant transaction under RLS (what the API does)', () => appRole.$withTenant(tenant(), (tx) => tx.project.findMany(page))],
    ]
    // The rows each variant returns must match, or the comparison is meaningless.
    const probe = tenants[0]!
    const plain = await superuser.project.findMany({ where: { tenantId: probe }, ...page })
    const isolated = await appRole.$withTenant(probe, (tx) => tx.project.findMany(page))
    if (plain.length !== PAGE + 1 || JSON.stringify(plain) !== JSON.stringify(isolated)) throw new Error('variants A and C return different rows')

    for (const [, once] of variants) await drive(1, options.concurrency, once) // warm pools, plans and caches
    const samples = new Map<string, Sample[]>(variants.map(([name]) => [name, []]))
    for (let round = 1; round <= options.rounds; round++) {
      for (const [name, once] of variants) {
        process.stderr.write(`tenancy round ${round}/${options.rounds}: ${name}\n`)
        samples.get(name)!.push(await drive(options.seconds, options.concurrency, once))
      }
    }

    const baseline = median(samples.get(variants[0]![0])!.map((sample) => sample.perSecond))
    return [
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; PostgreSQL ${(await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version}.`,
      `${TENANTS} tenants × ${PROJECTS_PER_TENANT} projects; first page of ${PAGE} (+1 for the cursor) by createdAt; ${options.concurrency} concurrent loops on a pool of ${options.concurrency}; ${options.seconds} s × ${options.rounds} interleaved rounds, medians.`,
      '',
      '| Variant | queries/s | vs A | p50 ms | p99 ms |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...variants.map(([name]) => {
        const runs = samples.get(name)!
        const perSecond = median(runs.map((sample) => sample.perSecond))
        return `| ${name} | ${perSecond.toFixed(0)} | ${(perSecond / baseline).toFixed(2)}× | ${median(runs.map((sample) => sample.p50Ms)).toFixed(2)} | ${median(runs.map((sample) => sample.p99Ms)).toFixed(2)} |`
      }),
    ]
  } finally {
    for (const client of clients) {
      await client.prisma.$disconnect()
      await client.pool.end()
    }
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const lines = await measureTenancyCost({
    serverUrl: process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
    seconds: Number(process.env.BENCH_SECONDS ?? 5),
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 8),
  })
  process.stdout.write(lines.join('\n') + '\n')
}
