// Shared by the GraphQL tests: a typed GraphQL call, a counter of the SQL statements Prisma sends,
// and bulk seeding as the table owner (so setup never goes through the code under test).
import type { Backend, TestTenant } from '../../helpers/backends.js'
import type { Caller } from '../../helpers/build-app.js'

export interface GraphqlError {
  message: string
  path?: Array<string | number>
  extensions: { code: string, status: number }
}

export interface GraphqlResult<Data = Record<string, any>> {
  status: number
  contentType: string | undefined
  data: Data | null
  errors: GraphqlError[] | undefined
}

export async function gql<Data = Record<string, any>> (caller: Caller, query: string, variables?: Record<string, unknown>): Promise<GraphqlResult<Data>> {
  const response = await caller.graphql(query, variables)
  const body = response.json() as { data?: Data | null, errors?: GraphqlError[] }
  return { status: response.statusCode, contentType: response.headers['content-type'] as string | undefined, data: body.data ?? null, errors: body.errors }
}

/**
 * Counts the statements Prisma sends, from its query events (the backend must be opened with
 * `emitQueryEvents`). PGlite's session is shared by every app on the backend, so count one request at a time.
 */
export function sqlCounter (backend: Backend): { reset(): void, readonly statements: string[] } {
  const statements: string[] = []
  const client = backend.database.prisma as unknown as { $on(event: 'query', listener: (event: { query: string }) => void): void }
  client.$on('query', (event) => { statements.push(event.query) })
  return { reset: () => { statements.length = 0 }, statements }
}

export interface SeededProject { id: string, name: string, createdAt: string }
export interface SeededTask { id: string, projectId: string, title: string, status: 'todo' | 'in_progress' | 'done', priority: number, createdAt: string }

/**
 * `projects` projects named `<prefix> 001`…, each with `tasksPerProject` tasks `<project> / task 1`…
 * Creation times are one second apart (tasks one millisecond apart), so "oldest first" is unambiguous;
 * statuses cycle todo, in_progress, done and priorities 1, 2, 3, 4, 0.
 */
export async function seed (backend: Backend, tenant: TestTenant, projects: number, tasksPerProject: number, prefix = 'Project'): Promise<{ projects: SeededProject[], tasks: SeededTask[] }> {
  return backend.asOwner(async (session) => {
    const base = await session.query<{ base: string }>("SELECT (now() - interval '1 day')::text AS base")
    const created = await session.query<SeededProject>(`
      INSERT INTO projects (id, tenant_id, name, created_at, updated_at)
      SELECT gen_random_uuid(), $1::uuid, $2 || ' ' || lpad(i::text, 3, '0'), $3::timestamptz + i * interval '1 second', now()
      FROM generate_series(1, $4::int) AS i
      RETURNING id::text, name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"`,
    [tenant.id, prefix, base[0]?.base, projects])
    const tasks = tasksPerProject === 0
      ? []
      : await session.query<SeededTask>(`
      INSERT INTO tasks (id, tenant_id, project_id, title, status, priority, created_at, updated_at)
      SELECT gen_random_uuid(), p.tenant_id, p.id, p.name || ' / task ' || j,
             (ARRAY['todo', 'in_progress', 'done'])[1 + (j - 1) % 3]::task_status, j % 5,
             p.created_at + j * interval '1 millisecond', now()
      FROM projects p CROSS JOIN generate_series(1, $3::int) AS j
      WHERE p.id = ANY($2::uuid[]) AND p.tenant_id = $1::uuid
      RETURNING id::text, project_id::text AS "projectId", title, status::text AS status, priority,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"`,
      [tenant.id, created.map((project) => project.id), tasksPerProject])
    const byName = <T extends { createdAt: string }>(rows: T[]): T[] => rows.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    return { projects: byName(created), tasks: byName(tasks) }
  })
}

/** Every project and task row of a tenant, as the owner sees them: for asserting what a request did (not) change. */
export async function snapshot (backend: Backend, tenant: TestTenant): Promise<{ projects: unknown[], tasks: unknown[] }> {
  return backend.asOwner(async (session) => ({
    projects: await session.query('SELECT id::text, name, description, updated_at::text FROM projects WHERE tenant_id = $1 ORDER BY id', [tenant.id]),
    tasks: await session.query(`SELECT id::text, project_id::text, title, description, status::text, priority, due_date::text, updated_at::text
                                FROM tasks WHERE tenant_id = $1 ORDER BY id`, [tenant.id]),
  }))
}
