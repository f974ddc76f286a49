// The api section's rows, planned once and loaded twice with the same ids and timestamps: into a Postgres
// database of its own (dropped at the end) and into the embedded database the api-pglite subject opens. A
// reading tenant (acme: 40 projects of 5 tasks) and a writing tenant (globex: 128 projects the updates rotate over).
import { randomUUID } from 'node:crypto'
import { APP_ROLE, openEmbedded } from '../../server/db/embedded.ts'
import { migrate } from '../../server/db/migrate.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgliteSession, pgSession, type SqlSession } from '../../server/db/sql-session.ts'
import { createDatabase } from '../database.ts'
import { READER, WRITER } from './scenarios.ts'

export const READ_PROJECTS = 40
export const TASKS_PER_PROJECT = 5
export const WRITE_PROJECTS = 128
const STATUSES = ['todo', 'in_progress', 'done'] as const

export interface PlannedTask {
  id: string
  title: string
  status: (typeof STATUSES)[number]
  priority: number
  createdAt: string
}
export interface PlannedProject {
  id: string
  name: string
  description: string
  createdAt: string
  tasks: PlannedTask[]
}

/** Projects in the order the API lists them (createdAt, then id): each a minute after the one before. */
export interface SeedPlan {
  readProjects: PlannedProject[]
  writeProjects: PlannedProject[]
}

const minutesAfter = (start: string, minutes: number): string =>
  new Date(Date.parse(start) + minutes * 60_000).toISOString()

export function planSeed(): SeedPlan {
  const readProjects = Array.from({ length: READ_PROJECTS }, (_, project): PlannedProject => {
    const createdAt = minutesAfter('2025-01-01T00:00:00.000Z', project)
    return {
      id: randomUUID(),
      name: `Project ${project + 1}`,
      description: `A project of ${TASKS_PER_PROJECT} tasks for the benchmark`,
      createdAt,
      tasks: Array.from({ length: TASKS_PER_PROJECT }, (_, task) => ({
        id: randomUUID(),
        title: `Task ${task + 1} of project ${project + 1}`,
        status: STATUSES[task % STATUSES.length]!,
        priority: task % 5,
        createdAt: new Date(Date.parse(createdAt) + (task + 1) * 1000).toISOString(),
      })),
    }
  })
  // A day after the reading tenant's: the API's queries leave the tenant filter to the policy, so with RLS
  // bypassed (api-rls-bypassed) its first pages hold acme's rows only because no other tenant's sort before them.
  const writeProjects = Array.from({ length: WRITE_PROJECTS }, (_, project): PlannedProject => ({
    id: randomUUID(),
    name: `Writes ${project + 1}`,
    description: 'Renamed by the update scenario',
    createdAt: minutesAfter('2025-01-02T00:00:00.000Z', project),
    tasks: [],
  }))
  return { readProjects, writeProjects }
}

/** Creates both tenants and writes their rows as their tenant (FORCE ROW LEVEL SECURITY), in one transaction. */
async function load(session: SqlSession, plan: SeedPlan): Promise<{ writeTenantId: string }> {
  const readTenantId = await createTenant(session, { slug: READER.tenant, name: 'Acme Corp', plan: 'enterprise' })
  const writeTenantId = await createTenant(session, {
    slug: WRITER.tenant,
    name: 'Globex Corporation',
    plan: 'enterprise',
  })
  await session.exec('BEGIN')
  for (const [tenantId, projects] of [
    [readTenantId, plan.readProjects],
    [writeTenantId, plan.writeProjects],
  ] as const) {
    await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [tenantId])
    for (const project of projects) {
      await session.query(
        'INSERT INTO projects (id, tenant_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)',
        [project.id, tenantId, project.name, project.description, project.createdAt],
      )
      for (const task of project.tasks) {
        await session.query(
          'INSERT INTO tasks (id, tenant_id, project_id, title, status, priority, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::task_status, $6, $7, $7)',
          [task.id, tenantId, project.id, task.title, task.status, task.priority, task.createdAt],
        )
      }
    }
  }
  await session.exec('COMMIT')
  await session.exec('VACUUM ANALYZE')
  return { writeTenantId }
}

export interface ApiBenchDatabase {
  name: string
  serverVersion: string
  /** The non-owner app role: row-level security applies. */
  appUrl: string
  /** The server URL's superuser: row-level security does not apply, FORCE or not. */
  superuserUrl: string
  /** Deletes the projects the create runs added and vacuums: every subject writes into the same table. */
  resetWrites(): Promise<number>
  /**
   * The Postgres processes serving the subjects' connections: every client backend of this database but the
   * bench's own. Only the subject under load is busy; the others' pools sit idle.
   */
  clientBackends(): Promise<number[]>
  drop(): Promise<void>
}

export async function createApiBenchDatabase(serverUrl: string, plan: SeedPlan): Promise<ApiBenchDatabase> {
  const { name, serverVersion, owner, url, drop } = await createDatabase(serverUrl, 'gatehouse_bench_api')
  try {
    const session = pgSession(owner)
    await migrate(session)
    const { writeTenantId } = await load(session, plan)
    const seeded = plan.writeProjects.map(project => project.id)
    return {
      name,
      serverVersion,
      appUrl: url(APP_ROLE),
      superuserUrl: url(),
      async resetWrites() {
        const deleted = await owner.query('DELETE FROM projects WHERE tenant_id = $1 AND NOT (id = ANY($2::uuid[]))', [
          writeTenantId,
          seeded,
        ])
        await owner.query('VACUUM projects')
        return deleted.rowCount ?? 0
      },
      async clientBackends() {
        const { rows } = await owner.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        return rows.map(row => row.pid)
      },
      drop,
    }
  } catch (error) {
    await drop()
    throw error
  }
}

/**
 * The same rows in an embedded database at `dataDir` (the API's DATA_DIR/pglite), opened, loaded and closed
 * before the api-pglite subject starts: PGlite allows one process at a time.
 */
export async function seedEmbedded(dataDir: string, plan: SeedPlan): Promise<void> {
  const embedded = await openEmbedded(dataDir, { asAppRole: false })
  try {
    await load(pgliteSession(embedded.db), plan)
  } finally {
    await embedded.close()
  }
}
