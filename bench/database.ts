// The bench's own Postgres databases (createDatabase: fresh on the given server, dropped at the end). The
// edge's is migrated and loaded with a reading tenant (20 projects of 5 tasks: the GET and GraphQL scenarios)
// and a writing tenant (one project the write scenario adds tasks to); the tenancy section loads its own
// (bench/tenancy.ts). Every write run starts from the same table: the rows it added are deleted and vacuumed
// after it, so the targets measured later do not write into a bigger one.
import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import { migrate } from '../server/db/migrate.ts'
import { createTenant } from '../server/db/seed.ts'
import { pgSession } from '../server/db/sql-session.ts'
import { APP_ROLE } from '../server/db/embedded.ts'

export const READ_TENANT = 'acme'
export const WRITE_TENANT = 'globex'
export const PROJECTS = 20
export const TASKS_PER_PROJECT = 5

export interface BenchDatabase {
  name: string
  /** The app role's URL, as the API connects (row-level security applies). */
  appUrl: string
  /** The project the write scenario creates tasks in. */
  writeProjectId: string
  /** Deletes what the write runs added (and vacuums), back to the seeded state. */
  resetWrites(): Promise<number>
  serverVersion: string
  drop(): Promise<void>
}

/** A database of the bench's own, created empty on the server and dropped at the end (also after a failure). */
export interface FreshDatabase {
  name: string
  serverVersion: string
  /** A superuser connection to it, open until drop(). */
  owner: pg.Client
  /** Its URL, as the server URL's superuser or as `user` (no password: the bench's server trusts loopback). */
  url(user?: string): string
  drop(): Promise<void>
}

export async function createDatabase(serverUrl: string, prefix: string): Promise<FreshDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(
      `cannot reach Postgres at ${new URL(serverUrl).host} (BENCH_POSTGRES_URL): ${(error as Error).message}`,
    )
  }
  const [{ server_version: serverVersion }] = (await admin.query<{ server_version: string }>('SHOW server_version'))
    .rows as [{ server_version: string }]
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()

  const url = (user?: string): string => {
    const address = new URL(serverUrl)
    address.pathname = `/${name}`
    if (user !== undefined) {
      address.username = user
      address.password = ''
    }
    return address.toString()
  }
  const owner = new pg.Client({ connectionString: url() })
  const drop = async (): Promise<void> => {
    await owner.end().catch(() => {})
    const again = new pg.Client({ connectionString: serverUrl })
    await again.connect()
    await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await again.end()
  }
  try {
    await owner.connect()
  } catch (error) {
    await drop()
    throw error
  }
  return { name, serverVersion, owner, url, drop }
}

export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const { name, serverVersion, owner, url, drop } = await createDatabase(serverUrl, 'gatehouse_bench')
  try {
    const session = pgSession(owner)
    await migrate(session)
    const readTenant = await createTenant(session, { slug: READ_TENANT, name: 'Acme Corp', plan: 'enterprise' })
    const writeTenant = await createTenant(session, {
      slug: WRITE_TENANT,
      name: 'Globex Corporation',
      plan: 'enterprise',
    })
    const writeProjectId = randomUUID()
    await owner.query('BEGIN')
    // FORCE ROW LEVEL SECURITY: rows are written as their tenant, as the seed does.
    await owner.query("SELECT set_config('app.tenant_id', $1, TRUE)", [readTenant])
    for (let project = 0; project < PROJECTS; project++) {
      const projectId = randomUUID()
      await owner.query(
        'INSERT INTO projects (id, tenant_id, name, description, updated_at) VALUES ($1, $2, $3, $4, now())',
        [projectId, readTenant, `Project ${project + 1}`, `A project of ${TASKS_PER_PROJECT} tasks for the benchmark`],
      )
      for (let task = 0; task < TASKS_PER_PROJECT; task++) {
        await owner.query(
          "INSERT INTO tasks (id, tenant_id, project_id, title, status, priority, updated_at) VALUES ($1, $2, $3, $4, 'todo', $5, now())",
          [randomUUID(), readTenant, projectId, `Task ${task + 1} of project ${project + 1}`, task % 5],
        )
      }
    }
    await owner.query("SELECT set_config('app.tenant_id', $1, TRUE)", [writeTenant])
    await owner.query('INSERT INTO projects (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
      writeProjectId,
      writeTenant,
      'Writes',
    ])
    await owner.query('COMMIT')
    await owner.query('VACUUM ANALYZE')
    return {
      name,
      appUrl: url(APP_ROLE),
      writeProjectId,
      serverVersion,
      async resetWrites() {
        // The owner is a superuser here: row-level security does not apply to it.
        const deleted = await owner.query('DELETE FROM tasks WHERE tenant_id = $1', [writeTenant])
        await owner.query('VACUUM tasks')
        return deleted.rowCount ?? 0
      },
      drop,
    }
  } catch (error) {
    await drop()
    throw error
  }
}
