// The tenancy section of npm run bench (BENCH_SECTIONS=tenancy alone: npm run bench:tenancy) — what the API's
// tenant isolation costs: the same 20-row project list, on real Postgres, in a database of its own,
//   plain: a query filtered by tenant_id (superuser, RLS bypassed, no transaction): the "where clause only" design;
//   transaction: inside the per-request tenant transaction that sets app.tenant_id first, still as the superuser
//     (RLS bypassed): the round trips alone;
//   rls: what the API does: that transaction as the non-owner app role, so row-level security filters every row;
//   pg: the same transaction and page through node-postgres alone, in one message: Prisma's own cost is C ÷ D.
// Each variant runs for BENCH_SECONDS from BENCH_TENANCY_CONCURRENCY loops over a pool of as many connections,
// in the same warm-up and interleaved rounds as the edge targets (bench/measure.ts); the report gives medians
// and ratios to plain: rls/transaction isolates the policy, transaction/plain the round trips, and the bench
// process's CPU per query.
import pg from 'pg'
import { migrate } from '../server/db/migrate.ts'
import { APP_ROLE } from '../server/db/embedded.ts'
import { createPostgresClient, type PrismaClient } from '../server/db/prisma-client.ts'
import { createTenant } from '../server/db/seed.ts'
import { pgSession } from '../server/db/sql-session.ts'
import { laneTenantScope } from '../server/db/tenant-scope.ts'
import { createDatabase, type FreshDatabase } from './database.ts'
import { runRounds } from './measure.ts'
import { cellKey, type Cell } from './report.ts'
import type { BenchSettings } from './settings.ts'

const TENANTS = 20
const PROJECTS_PER_TENANT = 500
const PAGE = 20

/** What one timed run of a variant measured, from the bench's side of the pool. */
export interface QueryRun {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  cpuUs: number
}

export interface TenancyVariant {
  id: 'plain' | 'transaction' | 'rls' | 'pg'
  label: string
}

export interface TenancyResults {
  serverVersion: string
  /** What was loaded and how it was driven, for the report. */
  setup: string
  variants: TenancyVariant[]
  /** By variant id. */
  cells: Map<TenancyVariant['id'], Cell<QueryRun>>
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN

/** `concurrency` closed loops calling `once` for `seconds`: the in-process counterpart of a wrk run. */
async function drive(seconds: number, concurrency: number, once: () => Promise<unknown>): Promise<QueryRun> {
  const latencies: number[] = []
  const cpu = process.cpuUsage()
  const deadline = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now()
        await once()
        latencies.push(performance.now() - started)
      }
    }),
  )
  const used = process.cpuUsage(cpu)
  latencies.sort((a, b) => a - b)
  return {
    requestsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    requests: latencies.length,
    cpuUs: (used.user + used.system) / latencies.length,
  }
}

/** Loads TENANTS tenants of PROJECTS_PER_TENANT projects each, so the policy and the index have rows to skip. */
async function seed({ owner }: FreshDatabase): Promise<string[]> {
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
       FROM generate_series(1, $2) AS n`,
      [tenantId, PROJECTS_PER_TENANT],
    )
    await owner.query('COMMIT')
    tenants.push(tenantId)
  }
  await owner.query('ANALYZE projects')
  return tenants
}

export async function measureTenancyCost(settings: BenchSettings): Promise<TenancyResults> {
  const concurrency = settings.tenancyConcurrency
  const database = await createDatabase(settings.postgresUrl, 'gatehouse_bench_tenancy')
  // Ctrl-C must not leave the database behind (the edge's is dropped by bench/stack.ts the same way).
  const interrupted = (): void => {
    void database.drop().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  const clients: Array<{ prisma: PrismaClient; pool: { end(): Promise<void> } }> = []
  try {
    const tenants = await seed(database)
    const pool = (url: string) => {
      const client = createPostgresClient({
        url,
        poolMax: concurrency,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 10_000,
      })
      // DROP DATABASE … WITH (FORCE) ends whatever the pools still hold; that is expected here, not a crash.
      client.pool.on('error', () => {})
      clients.push(client)
      return client.prisma.$extends(laneTenantScope(client.pool))
    }
    const superuser = pool(database.url())
    const appRole = pool(database.url(APP_ROLE))
    const rawPool = new pg.Pool({ connectionString: database.url(APP_ROLE), max: concurrency })
    rawPool.on('error', () => {})
    clients.push({ prisma: { $disconnect: async () => {} } as unknown as PrismaClient, pool: rawPool })
    const page = { orderBy: [{ createdAt: 'asc' as const }, { id: 'asc' as const }], take: PAGE + 1 }
    let next = 0
    const tenant = (): string => tenants[next++ % tenants.length]!

    const queries: Record<TenancyVariant['id'], () => Promise<unknown>> = {
      plain: () => superuser.project.findMany({ where: { tenantId: tenant() }, ...page }),
      transaction: () => {
        const tenantId = tenant()
        return superuser.$withTenant(tenantId, tx => tx.project.findMany({ where: { tenantId }, ...page }))
      },
      rls: () => appRole.$withTenant(tenant(), tx => tx.project.findMany(page)),
      pg: () => {
        const tenantId = pg.escapeLiteral(tenant())
        return rawPool.query(
          `BEGIN; SELECT set_config('app.tenant_id', ${tenantId}, TRUE); ` +
            `SELECT * FROM projects ORDER BY created_at, id LIMIT ${PAGE + 1}; COMMIT`,
        )
      },
    }
    const variants: TenancyVariant[] = [
      { id: 'plain', label: 'A. where tenant_id = …, no transaction, RLS bypassed' },
      { id: 'transaction', label: 'B. tenant transaction, RLS bypassed (round trips only)' },
      { id: 'rls', label: 'C. tenant transaction under RLS (what the API does)' },
      { id: 'pg', label: 'D. the same under RLS through node-postgres alone, one message (no ORM)' },
    ]
    // The rows each variant returns must match, or the comparison is meaningless.
    const probe = tenants[0]!
    const plain = await superuser.project.findMany({ where: { tenantId: probe }, ...page })
    const isolated = await appRole.$withTenant(probe, tx => tx.project.findMany(page))
    if (plain.length !== PAGE + 1 || JSON.stringify(plain) !== JSON.stringify(isolated)) {
      throw new Error('tenancy: variants A and C return different rows')
    }

    const load = { id: 'tenancy' }
    const cells = await runRounds(settings, {
      subjects: variants,
      loads: [load],
      run: (variant, _load, seconds) => drive(seconds, concurrency, queries[variant.id]),
    })
    return {
      serverVersion: database.serverVersion,
      setup:
        `${TENANTS} tenants × ${PROJECTS_PER_TENANT} projects in a database of its own; the first page of ${PAGE} (+1 for the cursor) by createdAt; ` +
        `${concurrency} concurrent loops on a pool of ${concurrency}; ${settings.warmupSeconds > 0 ? `an uncounted ${settings.warmupSeconds} s warm-up each, then ` : ''}` +
        `${settings.seconds} s × ${settings.rounds} interleaved round(s), medians. A and C were checked to return the same rows.`,
      variants,
      cells: new Map(
        variants.map(variant => [variant.id, cells.get(cellKey(variant.id, load.id)) ?? { runs: [], failures: [] }]),
      ),
    }
  } finally {
    for (const client of clients) {
      await client.prisma.$disconnect()
      await client.pool.end()
    }
    await database.drop()
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
  }
}
