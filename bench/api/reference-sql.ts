// The reference service's data layer without an ORM: node-postgres and its own SQL, for two ways of keeping
// tenants apart:
//   rls: the API's way, in one round trip: a simple query `BEGIN; SELECT set_config(…); <statement>; COMMIT` on
//     the app role, so the policy filters every row; values are inlined as literals (a multi-statement simple
//     query takes no parameters);
//   where-clause: the floor: the statement alone on the superuser, `tenant_id = $1` in its WHERE, no transaction.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { ReferenceData, ReferencePageProject, ReferenceProject } from './reference-data.ts'

export type Isolation = 'rls' | 'where-clause'

/** A project of the GraphQL page with one of its tasks (null when it has none). */
interface ProjectTaskRow {
  id: string
  name: string
  createdAt: Date
  title: string | null
  status: string | null
}

const PROJECT_COLUMNS = 'p.id, p.name, p.description, p.created_at AS "createdAt", p.updated_at AS "updatedAt"'

/**
 * One statement written for an isolation: its values as literals or as `$n`, the tenant's condition where the policy is
 * not there.
 */
class Statement {
  readonly values: unknown[] = []

  readonly isolation: Isolation
  readonly tenantId: string
  constructor(isolation: Isolation, tenantId: string) {
    this.isolation = isolation
    this.tenantId = tenantId
    if (isolation === 'where-clause') this.values.push(tenantId)
  }

  value(value: string | null): string {
    if (this.isolation === 'rls') return value === null ? 'NULL' : pg.escapeLiteral(value)
    this.values.push(value)
    return `$${this.values.length}`
  }

  tenant(): string {
    return this.isolation === 'rls' ? pg.escapeLiteral(this.tenantId) : '$1'
  }

  /** Under RLS the policy adds `tenant_id = <the transaction's tenant>` itself. */
  where(alias: string, ...conditions: string[]): string {
    const all = this.isolation === 'rls' ? conditions : [`${alias}.tenant_id = $1`, ...conditions]
    return all.length === 0 ? '' : `WHERE ${all.join(' AND ')}`
  }
}

/** Numbers come from validated input; written out only when they are the integers they claim to be. */
function integer(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`)
  return String(value)
}

export interface Query {
  text: string
  values: unknown[]
}

const done = (statement: Statement, text: string): Query => ({ text, values: statement.values })

export const sql = {
  /** `limit` rows and one more, to know whether there is a next page (as the API does). */
  listProjects(isolation: Isolation, tenantId: string, limit: number): Query {
    const s = new Statement(isolation, tenantId)
    return done(
      s,
      `SELECT ${PROJECT_COLUMNS} FROM projects p ${s.where('p')} ORDER BY p.created_at, p.id LIMIT ${integer(limit + 1)}`,
    )
  },

  getProject(isolation: Isolation, tenantId: string, id: string): Query {
    const s = new Statement(isolation, tenantId)
    return done(s, `SELECT ${PROJECT_COLUMNS} FROM projects p ${s.where('p', `p.id = ${s.value(id)}`)}`)
  },

  createProject(
    isolation: Isolation,
    tenantId: string,
    project: { id: string; name: string; description: string | null },
  ): Query {
    const s = new Statement(isolation, tenantId)
    return done(
      s,
      `INSERT INTO projects AS p (id, tenant_id, name, description, updated_at) VALUES (${s.value(project.id)}, ${s.tenant()}, ` +
        `${s.value(project.name)}, ${s.value(project.description)}, now()) RETURNING ${PROJECT_COLUMNS}`,
    )
  },

  updateProject(
    isolation: Isolation,
    tenantId: string,
    id: string,
    change: { name?: string; description?: string | null },
  ): Query {
    const s = new Statement(isolation, tenantId)
    const set = [
      ...(change.name !== undefined ? [`name = ${s.value(change.name)}`] : []),
      ...(change.description !== undefined ? [`description = ${s.value(change.description)}`] : []),
      'updated_at = now()',
    ]
    return done(
      s,
      `UPDATE projects p SET ${set.join(', ')} ${s.where('p', `p.id = ${s.value(id)}`)} RETURNING ${PROJECT_COLUMNS}`,
    )
  },

  /**
   * The first `projects` projects (and one more) with the first `tasks` tasks of each, oldest first, in one statement.
   */
  projectsWithTasks(isolation: Isolation, tenantId: string, projects: number, tasks: number): Query {
    const s = new Statement(isolation, tenantId)
    return done(
      s,
      `SELECT p.id, p.name, p.created_at AS "createdAt", t.title, t.status FROM (
        SELECT p.id, p.name, p.created_at FROM projects p ${s.where('p')} ORDER BY p.created_at, p.id LIMIT ${integer(projects + 1)}
      ) p LEFT JOIN LATERAL (
        SELECT t.title, t.status, t.created_at, t.id FROM tasks t ${s.where('t', 't.project_id = p.id')} ORDER BY t.created_at, t.id LIMIT ${integer(tasks)}
      ) t ON TRUE
      ORDER BY p.created_at, p.id, t.created_at, t.id`,
    )
  },
}

/** Runs one request's query as the isolation demands, in a single round trip either way. */
async function runQuery<Row extends pg.QueryResultRow>(
  pool: pg.Pool,
  isolation: Isolation,
  tenantId: string,
  query: Query,
): Promise<Row[]> {
  if (isolation === 'where-clause') return (await pool.query<Row>(query.text, query.values)).rows
  // Four statements, four results; a failure leaves the transaction aborted, and pool.query then discards the
  // connection.
  const results = (await pool.query(
    `BEGIN; SELECT set_config('app.tenant_id', ${pg.escapeLiteral(tenantId)}, TRUE); ${query.text}; COMMIT`,
  )) as unknown as Array<pg.QueryResult<Row>>
  return results[2]!.rows
}

/** A uuid v7, as the API's Prisma schema makes them: time-ordered, so new rows land at the index's end. */
function uuidv7(): string {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(Date.now(), 0, 6)
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function sqlDataLayer(
  options: { url: string; poolMax: number; isolation: Isolation },
  onIdleError: (error: Error) => void,
): ReferenceData {
  const { isolation } = options
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    statement_timeout: 10_000,
    application_name: 'gatehouse-bench-reference',
  })
  // The bench drops the database WITH (FORCE) at the end: idle connections then end, which is no crash.
  pool.on('error', onIdleError)
  const run = <Row extends pg.QueryResultRow>(tenantId: string, query: Query) =>
    runQuery<Row>(pool, isolation, tenantId, query)
  return {
    async tenantIdOf(slug) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [slug])
      return rows[0]?.id ?? null
    },
    listProjects: (tenantId, limit) => run<ReferenceProject>(tenantId, sql.listProjects(isolation, tenantId, limit)),
    getProject: async (tenantId, id) =>
      (await run<ReferenceProject>(tenantId, sql.getProject(isolation, tenantId, id)))[0],
    async createProject(tenantId, project) {
      const [row] = await run<ReferenceProject>(
        tenantId,
        sql.createProject(isolation, tenantId, { id: uuidv7(), ...project }),
      )
      return row!
    },
    updateProject: async (tenantId, id, change) =>
      (await run<ReferenceProject>(tenantId, sql.updateProject(isolation, tenantId, id, change)))[0],
    async projectsWithTasks(tenantId, projects, tasks) {
      const rows = await run<ProjectTaskRow>(tenantId, sql.projectsWithTasks(isolation, tenantId, projects, tasks))
      const page: ReferencePageProject[] = []
      for (const row of rows) {
        if (page.at(-1)?.id !== row.id) page.push({ id: row.id, name: row.name, createdAt: row.createdAt, tasks: [] })
        if (row.title !== null) page.at(-1)!.tasks.push({ title: row.title, status: row.status! })
      }
      return page
    },
    close: () => pool.end(),
  }
}
