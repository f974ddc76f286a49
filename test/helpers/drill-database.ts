// The database behind API processes in a drill: the suite's Postgres (several API processes share it, and
// the test can look at what was written while they run), or embedded databases, one per API process, each
// seeded with the demo tenants (read once the processes have exited: an open one is locked).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { openEmbedded } from '../../server/db/embedded.ts'
import { migrate } from '../../server/db/migrate.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgSession } from '../../server/db/sql-session.ts'
import { postgresUrls, uniqueSlug } from './backends.ts'
import type { StoredProjects } from './marked-writes-load.ts'

export interface DrillDatabase {
  name: 'postgres' | 'pglite'
  /** Whether API processes share it (Postgres). On PGlite each process has a database of its own. */
  shared: boolean
  /** Two tenants: one whose reads are cached, one that writes. */
  tenants: { readers: string; writers: string }
  /** Settings for one more API process (`startApiProcess`). */
  apiSettings(): { databaseUrl?: string; env: Record<string, string> }
  /**
   * The writers' projects named `prefix…`, over every database the APIs used (PGlite: once they exited; each call opens
   * them all).
   */
  projects(prefix?: string): Promise<StoredProjects>
}

const PROJECTS = `SELECT p.name, array_agg(p.id::text) AS ids FROM projects p JOIN tenants t ON t.id = p.tenant_id
  WHERE t.slug = $1 AND p.name LIKE $2 GROUP BY p.name`

function byName(rows: Array<{ name: string; ids: string[] }>): StoredProjects {
  const stored: StoredProjects = new Map()
  for (const row of rows) stored.set(row.name, [...(stored.get(row.name) ?? []), ...row.ids])
  return stored
}

function pgliteDatabase(t: Test): DrillDatabase {
  const dirs: string[] = []
  t.teardown(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
  const tenants = { readers: 'acme', writers: 'globex' }
  return {
    name: 'pglite',
    shared: false,
    tenants,
    apiSettings() {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-drill-pglite-'))
      dirs.push(dir)
      return { env: { DATA_DIR: dir, SEED_DEMO_DATA: 'true' } }
    },
    async projects(prefix = '') {
      // Each as the API left it (migrated): opened without migrating, all at once.
      const rows = await Promise.all(
        dirs.map(async dir => {
          const embedded = await openEmbedded(join(dir, 'pglite'), { asAppRole: false, migrate: false })
          try {
            return (await embedded.db.query<{ name: string; ids: string[] }>(PROJECTS, [tenants.writers, `${prefix}%`]))
              .rows
          } finally {
            await embedded.close()
          }
        }),
      )
      return byName(rows.flat())
    },
  }
}

async function postgresDatabase(t: Test, urls: { owner: string; app: string }): Promise<DrillDatabase> {
  const owner = new pg.Pool({ connectionString: urls.owner, max: 2 })
  t.teardown(() => owner.end())
  const client = await owner.connect()
  const tenants = { readers: uniqueSlug('drill'), writers: uniqueSlug('drill') }
  try {
    await migrate(pgSession(client))
    for (const slug of Object.values(tenants)) {
      await createTenant(pgSession(client), { slug, name: `Drill ${slug}`, plan: 'free' })
    }
  } finally {
    client.release()
  }
  return {
    name: 'postgres',
    shared: true,
    tenants,
    apiSettings: () => ({ databaseUrl: urls.app, env: {} }),
    projects: async (prefix = '') =>
      byName((await owner.query<{ name: string; ids: string[] }>(PROJECTS, [tenants.writers, `${prefix}%`])).rows),
  }
}

/** The suite's Postgres when it has one (DATABASE_URL), else embedded databases. */
export async function openDrillDatabase(t: Test): Promise<DrillDatabase> {
  const urls = postgresUrls()
  return urls === undefined ? pgliteDatabase(t) : postgresDatabase(t, urls)
}

/** `suite` once on embedded databases, and once more on Postgres when the suite has it. */
export function forEachDrillDatabase(t: Test, suite: (t: Test, database: DrillDatabase) => Promise<void>): void {
  t.test('pglite', async t => suite(t, pgliteDatabase(t)))
  const urls = postgresUrls()
  if (urls !== undefined) t.test('postgres', async t => suite(t, await postgresDatabase(t, urls)))
}
