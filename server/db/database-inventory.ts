// What a database holds, as the owner sees it: the facts a backup manifest records and a restore checks again
// (tables and row counts, applied migrations, row-level security, the app role's privileges).
import type { SqlSession } from './sql-session.ts'

export interface RowSecurity {
  table: string
  enabled: boolean
  forced: boolean
  policies: string[]
}

export interface Inventory {
  database: string
  serverVersion: string
  /** Finished, not rolled back, in the order they were applied. */
  migrations: string[]
  /** "schema.table" → exact row count. */
  tables: Record<string, number>
  rowSecurity: RowSecurity[]
  /** "schema:USAGE" or "schema.table:PRIVILEGE" held by the app role, sorted. */
  appRoleGrants: string[]
}

const USER_SCHEMAS =
  "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"

export class InsufficientPrivilegeError extends Error {}

/**
 * FORCE ROW LEVEL SECURITY binds the table owner too: an owner without BYPASSRLS counts 0 rows and pg_dump
 * (which turns row_security off) fails. Both need a superuser or a BYPASSRLS role, so say that up front.
 */
export async function requireRlsBypass(session: SqlSession, purpose: string): Promise<void> {
  const [row] = await session.query<{ role: string; bypass: boolean }>(
    'SELECT rolname AS role, rolsuper OR rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user',
  )
  if (row?.bypass !== true) {
    throw new InsufficientPrivilegeError(
      `${purpose} needs a role that bypasses row-level security (superuser or BYPASSRLS); ` +
        `role "${row?.role ?? 'unknown'}" would see only one tenant's rows, or none. Use such a role in DATABASE_OWNER_URL.`,
    )
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

export async function userTables(session: SqlSession): Promise<string[]> {
  const rows = await session.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_SCHEMAS} ORDER BY 1`,
  )
  return rows.map(row => row.name)
}

/**
 * Objects that a restore could collide with: any table, view, sequence, type or function outside the system schemas.
 */
export async function userObjects(session: SqlSession): Promise<string[]> {
  const rows = await session.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMAS}
     UNION ALL
     SELECT n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('e', 'd', 'r') AND ${USER_SCHEMAS}
     UNION ALL
     SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_SCHEMAS}
     ORDER BY 1`,
  )
  return rows.map(row => row.name)
}

export async function inventory(session: SqlSession, appRole: string): Promise<Inventory> {
  const [about] = await session.query<{ database: string; version: string }>(
    "SELECT current_database() AS database, current_setting('server_version') AS version",
  )
  const tables: Record<string, number> = {}
  for (const table of await userTables(session)) {
    const [schema, name] = table.split('.') as [string, string]
    const [row] = await session.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${quoteIdent(schema)}.${quoteIdent(name)}`,
    )
    tables[table] = Number(row?.count)
  }
  const migrations =
    'public._prisma_migrations' in tables
      ? (
          await session.query<{ name: string }>(
            'SELECT migration_name AS name FROM public."_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY started_at, migration_name',
          )
        ).map(row => row.name)
      : []
  const rowSecurity = await session.query<RowSecurity>(
    `SELECT n.nspname || '.' || c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
            coalesce((SELECT array_agg(p.polname::text ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid), '{}') AS policies
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS}
        AND (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
             OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
      ORDER BY 1`,
  )
  const grants = await session.query<{ grant: string }>(
    `SELECT n.nspname || '.' || c.relname || ':' || a.privilege_type AS grant
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
      WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) AND ${USER_SCHEMAS}
     UNION ALL
     SELECT n.nspname || ':' || a.privilege_type FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
      WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) AND ${USER_SCHEMAS}
     ORDER BY 1`,
    [appRole],
  )
  return {
    database: about?.database ?? '',
    serverVersion: about?.version ?? '',
    migrations,
    tables,
    rowSecurity,
    appRoleGrants: grants.map(row => row.grant),
  }
}

/**
 * Tables holding a tenant_id must keep RLS enabled and forced, with a policy: otherwise the app role sees across
 * tenants.
 */
export function rowSecurityProblems(rowSecurity: RowSecurity[]): string[] {
  return rowSecurity.flatMap(entry => [
    ...(entry.enabled ? [] : [`${entry.table}: row-level security is not enabled`]),
    ...(entry.forced ? [] : [`${entry.table}: row-level security is not forced`]),
    ...(entry.policies.length > 0 ? [] : [`${entry.table}: has no policy`]),
  ])
}

/** Where `actual` differs from what the manifest recorded, one line each. */
export function inventoryDifferences(
  expected: Omit<Inventory, 'database' | 'serverVersion'>,
  actual: Inventory,
): string[] {
  const problems: string[] = []
  for (const table of new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)])) {
    const want = expected.tables[table]
    const got = actual.tables[table]
    if (want === undefined) problems.push(`${table}: present after restore but not in the backup`)
    else if (got === undefined) problems.push(`${table}: missing after restore`)
    else if (want !== got) problems.push(`${table}: ${got} rows after restore, the backup recorded ${want}`)
  }
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)
  if (!same(expected.migrations, actual.migrations)) {
    problems.push(
      `migrations differ: backup ${expected.migrations.join(', ') || 'none'}; restored ${actual.migrations.join(', ') || 'none'}`,
    )
  }
  if (!same(expected.rowSecurity, actual.rowSecurity)) {
    problems.push(
      `row-level security differs: backup ${JSON.stringify(expected.rowSecurity)}; restored ${JSON.stringify(actual.rowSecurity)}`,
    )
  }
  if (!same(expected.appRoleGrants, actual.appRoleGrants)) {
    problems.push(
      `app role privileges differ: backup ${expected.appRoleGrants.join(', ')}; restored ${actual.appRoleGrants.join(', ')}`,
    )
  }
  return problems
}
