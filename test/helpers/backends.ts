// The databases the suite runs against: embedded PGlite always, and real Postgres when DATABASE_URL
// (the app role) and DATABASE_OWNER_URL (the table owner) are set, as .ci/run does.
// Each test file opens its own backends; each test makes its own tenants, so files run in parallel.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { openDatabase, type Database } from '../../server/plugins/database.ts'
import { migrate } from '../../server/db/migrate.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgSession, type SqlSession } from '../../server/db/sql-session.ts'
import { APP_ROLE, openEmbedded } from '../../server/db/embedded.ts'
import { interactiveTenantScope } from '../../server/db/tenant-scope.ts'
import { createPgliteClient } from '../../server/db/prisma-client.ts'
import type { DatabaseConfig } from '../../server/config.ts'

export interface TestTenant {
  id: string
  slug: string
}

export interface Backend {
  name: 'pglite' | 'postgres'
  /** Handed to buildApp so many apps share one database. */
  database: Database
  /** The database config an app would be built with (postgres: the app-role URL). */
  config: DatabaseConfig
  /** Raw SQL as the table owner (superuser on PGlite): for setting up and inspecting, never for the code under test. */
  asOwner<T>(work: (session: SqlSession) => Promise<T>): Promise<T>
  /** Raw SQL as the app role, as the API connects. */
  asApp<T>(work: (session: SqlSession) => Promise<T>): Promise<T>
  createTenant(plan?: 'free' | 'pro' | 'enterprise'): Promise<TestTenant>
  close(): Promise<void>
}

export const postgresUrls = (): { app: string; owner: string } | undefined => {
  const app = process.env.DATABASE_URL
  const owner = process.env.DATABASE_OWNER_URL
  return app !== undefined && app !== '' && owner !== undefined && owner !== '' ? { app, owner } : undefined
}

export const uniqueSlug = (prefix = 't'): string => `${prefix}-${randomBytes(6).toString('hex')}`

/**
 * An in-memory PGlite backend on its own (forEachBackend uses it; so do tests that must stay off the shared Postgres).
 */
export async function pgliteBackend(options: { emitQueryEvents?: boolean } = {}): Promise<Backend> {
  const embedded = await openEmbedded(undefined)
  const prisma = createPgliteClient(embedded.db, options)
  // PGlite is one connection: switching role must not interleave with the app's queries, and a single
  // exec() of several statements runs as one unit on it.
  const asOwner = async <T>(work: (session: SqlSession) => Promise<T>): Promise<T> => {
    return embedded.db.transaction(async tx => {
      await tx.exec('RESET ROLE')
      // No finally: if the work fails, the rollback undoes RESET ROLE too, and a SET ROLE on the aborted
      // transaction would only hide the real error behind 25P02.
      const result = await work({
        query: async <Row>(sql: string, params: unknown[] = []) => (await tx.query<Row>(sql, params)).rows,
        exec: async (sql: string) => {
          await tx.exec(sql)
        },
      })
      await tx.exec(`SET ROLE ${APP_ROLE}`)
      return result
    })
  }
  const asApp = async <T>(work: (session: SqlSession) => Promise<T>): Promise<T> =>
    embedded.db.transaction(async tx =>
      work({
        query: async <Row>(sql: string, params: unknown[] = []) => (await tx.query<Row>(sql, params)).rows,
        exec: async (sql: string) => {
          await tx.exec(sql)
        },
      }),
    )
  return {
    name: 'pglite',
    database: {
      kind: 'pglite',
      prisma,
      poolUsage: () => ({ total: 1, idle: 1, waiting: 0 }),
      tenantScope: () => interactiveTenantScope(),
      close: async () => {},
    },
    config: { kind: 'pglite', dataDir: undefined, seedDemoData: false },
    asOwner,
    asApp,
    createTenant: (plan = 'free') =>
      asOwner(async session => {
        const slug = uniqueSlug()
        return { id: await createTenant(session, { slug, name: `Tenant ${slug}`, plan }), slug }
      }),
    async close() {
      await prisma.$disconnect()
      await embedded.close()
    },
  }
}

async function postgres(
  urls: { app: string; owner: string },
  options: { emitQueryEvents?: boolean },
): Promise<Backend> {
  const owner = new pg.Pool({ connectionString: urls.owner, max: 2 })
  const app = new pg.Pool({ connectionString: urls.app, max: 2 })
  const withClient =
    (pool: pg.Pool) =>
    async <T>(work: (session: SqlSession) => Promise<T>): Promise<T> => {
      const client = await pool.connect()
      try {
        return await work(pgSession(client))
      } finally {
        client.release()
      }
    }
  const asOwner = withClient(owner)
  await asOwner(session => migrate(session))
  const config: DatabaseConfig = {
    kind: 'postgres',
    url: urls.app,
    poolMax: 5,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 10_000,
  }
  const database = await openDatabase(config, options)
  return {
    name: 'postgres',
    database: { ...database, close: async () => {} },
    config,
    asOwner,
    asApp: withClient(app),
    createTenant: (plan = 'free') =>
      asOwner(async session => {
        const slug = uniqueSlug()
        return { id: await createTenant(session, { slug, name: `Tenant ${slug}`, plan }), slug }
      }),
    async close() {
      await database.close()
      await owner.end()
      await app.end()
    },
  }
}

/**
 * Runs `suite` once per available backend, as a subtest named after it.
 * `emitQueryEvents` turns on Prisma's query events (for tests that count SQL statements).
 */
export function forEachBackend(
  t: Test,
  suite: (t: Test, backend: Backend) => Promise<void>,
  options: { emitQueryEvents?: boolean } = {},
): void {
  const urls = postgresUrls()
  const makers: Array<[string, () => Promise<Backend>]> = [['pglite', () => pgliteBackend(options)]]
  if (urls !== undefined) makers.push(['postgres', () => postgres(urls, options)])
  for (const [name, make] of makers) {
    t.test(name, async t => {
      const backend = await make()
      t.teardown(() => backend.close())
      await suite(t, backend)
    })
  }
}
