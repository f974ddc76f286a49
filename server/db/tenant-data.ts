// One tenant's data as a whole, for operators: export it (e.g. for a data-access request or before deletion) and
// delete it. Every table with a tenant_id column counts as the tenant's, so a table added later is covered too.
// Works as the owner on Postgres and PGlite; the tenant is set for the transaction, so FORCE ROW LEVEL SECURITY
// lets even an owner without BYPASSRLS see exactly this tenant's rows.
import type { SqlSession } from './sql-session.ts'

export class TenantNotFoundError extends Error {
  constructor(slug: string) {
    super(`no tenant "${slug}"`)
    this.name = 'TenantNotFoundError'
  }
}

export interface TenantExport {
  format: 'gatehouse-tenant-export'
  version: 1
  exportedAt: string
  tenant: Record<string, unknown>
  /** Table name → the tenant's rows, every column, as Postgres renders them in JSON. */
  tables: Record<string, Array<Record<string, unknown>>>
}

export interface TenantDeletion {
  id: string
  slug: string
  deleted: Record<string, number>
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** The tables holding a tenant_id, children before the tables they reference (the order deletes must take). */
export async function tenantTables(session: SqlSession): Promise<string[]> {
  if (!(await session.query("SELECT 1 FROM pg_class WHERE oid = to_regclass('public.tenants')")).length) {
    throw new Error('this database has no tenants table: run `npm run db:migrate` first')
  }
  const rows = await session.query<{ table: string; refs: string[] }>(
    `SELECT c.relname AS table,
            coalesce((SELECT array_agg(DISTINCT r.relname::text) FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid
                       WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid), '{}') AS refs
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
      ORDER BY c.relname`,
  )
  const order: string[] = []
  const pending = new Map(rows.map(row => [row.table, new Set(row.refs)]))
  while (pending.size > 0) {
    // A table goes next when no other pending table references it.
    const next = [...pending.keys()].find(
      table => ![...pending].some(([other, refs]) => other !== table && refs.has(table)),
    )
    // A cycle cannot be ordered: take the rest alphabetically, and the FKs' ON DELETE rules decide.
    const chosen = next ?? [...pending.keys()][0]!
    order.push(chosen)
    pending.delete(chosen)
  }
  return order
}

async function inTransaction<T>(session: SqlSession, begin: string, work: () => Promise<T>): Promise<T> {
  await session.exec(begin)
  try {
    const result = await work()
    await session.exec('COMMIT')
    return result
  } catch (error) {
    await session.exec('ROLLBACK')
    throw error
  }
}

async function findTenant(
  session: SqlSession,
  slug: string,
  lock: boolean,
): Promise<Record<string, unknown> & { id: string }> {
  const [row] = await session.query<{ tenant: Record<string, unknown> & { id: string } }>(
    `SELECT to_jsonb(t) AS tenant FROM tenants t WHERE slug = $1${lock ? ' FOR UPDATE' : ''}`,
    [slug],
  )
  if (row === undefined) throw new TenantNotFoundError(slug)
  // The tenant's own rows become visible to an owner bound by FORCE ROW LEVEL SECURITY.
  await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [row.tenant.id])
  return row.tenant
}

/** Everything one tenant owns, read in one snapshot. */
export async function exportTenant(session: SqlSession, slug: string): Promise<TenantExport> {
  const tables = await tenantTables(session)
  return inTransaction(session, 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', async () => {
    const tenant = await findTenant(session, slug, false)
    const rows: TenantExport['tables'] = {}
    // Parents first in the file, so an import can replay it in order.
    for (const table of [...tables].reverse()) {
      const found = await session.query<{ row: Record<string, unknown> }>(
        `SELECT to_jsonb(x) AS row FROM public.${quoteIdent(table)} x WHERE x.tenant_id = $1
          ORDER BY to_jsonb(x)->>'created_at', to_jsonb(x)->>'id', to_jsonb(x)::text`,
        [tenant.id],
      )
      rows[table] = found.map(entry => entry.row)
    }
    return { format: 'gatehouse-tenant-export', version: 1, exportedAt: new Date().toISOString(), tenant, tables: rows }
  })
}

/** Deletes the tenant and every row it owns in one transaction; all or nothing. Returns what it deleted. */
export async function deleteTenant(session: SqlSession, slug: string): Promise<TenantDeletion> {
  const tables = await tenantTables(session)
  return inTransaction(session, 'BEGIN', async () => {
    const tenant = await findTenant(session, slug, true)
    const deleted: Record<string, number> = {}
    for (const table of tables) {
      const [counted] = await session.query<{ count: string | number }>(
        `SELECT count(*) AS count FROM public.${quoteIdent(table)} WHERE tenant_id = $1`,
        [tenant.id],
      )
      deleted[table] = Number(counted?.count ?? 0)
    }
    // Counted first: a cascade from an earlier table may already have removed a later table's rows.
    for (const table of tables) {
      await session.query(`DELETE FROM public.${quoteIdent(table)} WHERE tenant_id = $1`, [tenant.id])
    }
    await session.query('DELETE FROM tenants WHERE id = $1', [tenant.id])
    for (const table of tables) {
      const [left] = await session.query<{ count: string | number }>(
        `SELECT count(*) AS count FROM public.${quoteIdent(table)} WHERE tenant_id = $1`,
        [tenant.id],
      )
      if (Number(left?.count) !== 0) {
        throw new Error(`${table} still holds ${String(left?.count)} rows of tenant ${slug}; nothing was deleted`)
      }
    }
    return { id: tenant.id, slug, deleted: { tenants: 1, ...deleted } }
  })
}
