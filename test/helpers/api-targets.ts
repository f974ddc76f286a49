// Where API processes for shutdown drills keep their data: each its own embedded database (PGlite, seeded
// with the demo tenant acme, so every instance knows the tenant), or one Postgres database for all (when
// the suite has DATABASE_URL), with a fresh tenant. Plus what the drills read from the processes' logs.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { openEmbedded } from '../../server/db/embedded.js'
import { migrate } from '../../server/db/migrate.js'
import { createTenant } from '../../server/db/seed.js'
import { pgSession } from '../../server/db/sql-session.js'
import { postgresUrls, uniqueSlug } from './backends.js'
import type { ApiProcess } from './service-processes.js'

const API_ENV = { SHUTDOWN_GRACE_MS: '30000' }

/** Where the APIs keep their data: each its own embedded database, or one Postgres database for all. */
export interface ApiTarget {
  name: string
  tenant: string
  /** Settings for one more API process. */
  apiSettings(): { databaseUrl?: string, env: Record<string, string> }
  /** Project names of the tenant starting with `prefix`, over every database (after the APIs exited). */
  projectNames(prefix: string): Promise<string[]>
}

export function forEachApiTarget (t: Test, suite: (t: Test, target: ApiTarget) => Promise<void>): void {
  t.test('pglite', async (t) => {
    const dirs: string[] = []
    t.teardown(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }) })
    await suite(t, {
      name: 'pglite',
      tenant: 'acme',
      apiSettings () {
        const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sigterm-'))
        dirs.push(dir)
        return { env: { ...API_ENV, DATA_DIR: dir, SEED_DEMO_DATA: 'true' } }
      },
      async projectNames (prefix) {
        const names: string[] = []
        for (const dir of dirs) {
          const embedded = await openEmbedded(join(dir, 'pglite'), { asAppRole: false })
          try {
            const rows = await embedded.db.query<{ name: string }>('SELECT p.name FROM projects p JOIN tenants t ON t.id = p.tenant_id WHERE t.slug = $1 AND p.name LIKE $2', ['acme', `${prefix}%`])
            names.push(...rows.rows.map((row) => row.name))
          } finally {
            await embedded.close()
          }
        }
        return names
      },
    })
  })
  const urls = postgresUrls()
  if (urls === undefined) return
  t.test('postgres', async (t) => {
    const owner = new pg.Pool({ connectionString: urls.owner, max: 1 })
    t.teardown(() => owner.end())
    const client = await owner.connect()
    const slug = uniqueSlug('sigterm')
    try {
      await migrate(pgSession(client))
      await createTenant(pgSession(client), { slug, name: 'SIGTERM drill', plan: 'pro' })
    } finally {
      client.release()
    }
    await suite(t, {
      name: 'postgres',
      tenant: slug,
      apiSettings: () => ({ databaseUrl: urls.app, env: API_ENV }),
      async projectNames (prefix) {
        const rows = await owner.query<{ name: string }>('SELECT p.name FROM projects p JOIN tenants t ON t.id = p.tenant_id WHERE t.slug = $1 AND p.name LIKE $2', [slug, `${prefix}%`])
        return rows.rows.map((row) => row.name)
      },
    })
  })
}

/** The request ids of the log lines with this message (e.g. 'incoming request'), in order. */
export const requestIdsLogged = (api: ApiProcess, msg: string): string[] => api.current().lines(`"${msg}"`).map((line) => String(line.reqId))

/** How the process ended, or 'still running' after `ms`. */
export async function exitWithin (api: ApiProcess, ms: number): Promise<{ code: number | null, signal: string | null } | 'still running'> {
  return Promise.race([api.current().exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms))])
}

