// Demo data for `npm run dev`: two tenants with projects and tasks, written as the owner.
// Idempotent: a tenant that exists is left as it is.
import { randomUUID } from 'node:crypto'
import type { Plan } from '../../common/plans.ts'
import type { SqlSession } from './sql-session.ts'

export interface TenantInput {
  slug: string
  name: string
  plan: Plan
}

export class TenantExistsError extends Error {
  constructor(slug: string) {
    super(`Tenant "${slug}" already exists`)
    this.name = 'TenantExistsError'
  }
}

/** Creates a tenant; throws TenantExistsError when the slug is taken. Returns its id. */
export async function createTenant(session: SqlSession, tenant: TenantInput): Promise<string> {
  const rows = await session.query<{ id: string }>(
    'INSERT INTO tenants (id, slug, name, plan) VALUES ($1, $2, $3, $4::tenant_plan) ON CONFLICT (slug) DO NOTHING RETURNING id',
    [randomUUID(), tenant.slug, tenant.name, tenant.plan],
  )
  if (rows[0] === undefined) throw new TenantExistsError(tenant.slug)
  return rows[0].id
}

const DEMO: Array<
  TenantInput & { projects: Array<{ name: string; description: string; tasks: Array<[string, string, number]> }> }
> = [
  {
    slug: 'acme',
    name: 'Acme Corp',
    plan: 'pro',
    projects: [
      {
        name: 'Website relaunch',
        description: 'New marketing site before the spring campaign',
        tasks: [
          ['Draft the sitemap', 'done', 2],
          ['Pick a typeface', 'in_progress', 1],
          ['Write launch copy', 'todo', 3],
        ],
      },
      { name: 'Rocket skates', description: 'Field trials in the desert', tasks: [['Order more anvils', 'todo', 4]] },
    ],
  },
  {
    slug: 'globex',
    name: 'Globex Corporation',
    plan: 'free',
    projects: [
      {
        name: 'Quarterly report',
        description: 'Q3 numbers for the board',
        tasks: [
          ['Collect regional figures', 'in_progress', 2],
          ['Review with finance', 'todo', 3],
        ],
      },
    ],
  },
]

export async function seedDemoData(session: SqlSession): Promise<string[]> {
  const created: string[] = []
  for (const tenant of DEMO) {
    // The tenant and its data in one transaction: an interrupted seed must not leave a demo tenant
    // without its projects, which the next (idempotent) run would then skip for good.
    await session.exec('BEGIN')
    try {
      const tenantId = await createTenant(session, tenant)
      // FORCE ROW LEVEL SECURITY holds for the owner too: write as this tenant.
      await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [tenantId])
      for (const project of tenant.projects) {
        const projectId = randomUUID()
        await session.query(
          'INSERT INTO projects (id, tenant_id, name, description, updated_at) VALUES ($1, $2, $3, $4, now())',
          [projectId, tenantId, project.name, project.description],
        )
        for (const [title, status, priority] of project.tasks) {
          await session.query(
            'INSERT INTO tasks (id, tenant_id, project_id, title, status, priority, updated_at) VALUES ($1, $2, $3, $4, $5::task_status, $6, now())',
            [randomUUID(), tenantId, projectId, title, status, priority],
          )
        }
      }
      await session.exec('COMMIT')
    } catch (error) {
      await session.exec('ROLLBACK')
      if (error instanceof TenantExistsError) continue
      throw error
    }
    created.push(tenant.slug)
  }
  return created
}
