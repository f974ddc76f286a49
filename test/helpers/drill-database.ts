// The database behind API processes in a drill: the suite's Postgres when it has one (several API
// processes can share it, and the test can count what was written), else an embedded database that
// each API process opens for itself, seeded with the demo tenants (one process at a time: no sharing).
import pg from 'pg'
import type { Test } from 'tap'
import { migrate } from '../../server/db/migrate.js'
import { createTenant } from '../../server/db/seed.js'
import { pgSession } from '../../server/db/sql-session.js'
import { postgresUrls, uniqueSlug } from './backends.js'

export interface DrillDatabase {
  name: 'postgres' | 'pglite'
  /** Settings for each API process. */
  apiEnv: Record<string, string>
  /** Two tenants: one whose reads are cached, one that writes. */
  tenants: { readers: string, writers: string }
  /** Postgres only: how many projects of the writers' tenant bear each name. */
  projectNames?: () => Promise<Map<string, number>>
}

export async function openDrillDatabase (t: Test): Promise<DrillDatabase> {
  const urls = postgresUrls()
  if (urls === undefined) return { name: 'pglite', apiEnv: { SEED_DEMO_DATA: 'true' }, tenants: { readers: 'acme', writers: 'globex' } }
  const owner = new pg.Pool({ connectionString: urls.owner, max: 2 })
  t.teardown(() => owner.end())
  const asOwner = async <T>(work: (session: ReturnType<typeof pgSession>) => Promise<T>): Promise<T> => {
    const client = await owner.connect()
    try { return await work(pgSession(client)) } finally { client.release() }
  }
  await asOwner((session) => migrate(session))
  const make = (): Promise<{ slug: string, id: string }> => asOwner(async (session) => {
    const slug = uniqueSlug('drill')
    return { slug, id: await createTenant(session, { slug, name: `Drill ${slug}`, plan: 'free' }) }
  })
  const [readers, writers] = [await make(), await make()]
  return {
    name: 'postgres',
    apiEnv: { DATABASE_URL: urls.app },
    tenants: { readers: readers.slug, writers: writers.slug },
    projectNames: async () => {
      const rows = await asOwner((session) => session.query<{ name: string, n: number }>(
        'SELECT name, count(*)::int AS n FROM projects WHERE tenant_id = $1 GROUP BY name', [writers.id]))
      return new Map(rows.map((row) => [row.name, row.n]))
    },
  }
}
