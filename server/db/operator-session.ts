// A connection as the database owner, for operator commands (migrate, seed, tenant management).
// On Postgres that is DATABASE_OWNER_URL; on the embedded database, the PGlite session itself.
import pg from 'pg'
import { Type, type Static } from 'typebox'
import { join } from 'node:path'
import { loadEnvConfig } from '../../common/env-config.ts'
import { openEmbedded } from './embedded.ts'
import { pgliteSession, pgSession, type SqlSession } from './sql-session.ts'

export const OperatorEnvSchema = Type.Object({
  DATABASE_OWNER_URL: Type.Optional(
    Type.String({ pattern: '^postgres(ql)?://', description: 'Connection of the role that owns the tables' }),
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'The app role connection (its password is set by db:migrate)',
    }),
  ),
  DATA_DIR: Type.String({ default: '.data' }),
})

export type OperatorEnv = Static<typeof OperatorEnvSchema>

export interface OperatorSession {
  session: SqlSession
  /** Where this session points, for messages (never includes a password). */
  target: string
  close(): Promise<void>
}

export function loadOperatorEnv(env: Record<string, string | undefined> = process.env): OperatorEnv {
  return loadEnvConfig(OperatorEnvSchema, env)
}

function describe(url: string): string {
  const parsed = new URL(url)
  return `postgres ${parsed.username || 'default user'}@${parsed.host}${parsed.pathname}`
}

export async function openOperatorSession(env: OperatorEnv): Promise<OperatorSession> {
  const url = env.DATABASE_OWNER_URL ?? env.DATABASE_URL
  if (url !== undefined) {
    const client = new pg.Client({
      connectionString: url,
      application_name: 'gatehouse-operator',
      connectionTimeoutMillis: 10_000,
    })
    await client.connect()
    return { session: pgSession(client), target: describe(url), close: () => client.end() }
  }
  const dataDir = join(env.DATA_DIR, 'pglite')
  // Every operator command migrates itself first; db:migrate then reports what it applied.
  const embedded = await openEmbedded(dataDir, { asAppRole: false, migrate: false })
  return {
    session: pgliteSession(embedded.db),
    target: `embedded database in ${dataDir}`,
    close: () => embedded.close(),
  }
}

/**
 * The app role logs in with the password in DATABASE_URL; the migration creates the role without one,
 * so the operator who holds both URLs sets it here (no secret ever lives in a migration file).
 */
export async function syncAppRolePassword(
  session: SqlSession,
  appUrl: string | undefined,
  appRole: string,
): Promise<boolean> {
  if (appUrl === undefined) return false
  const parsed = new URL(appUrl)
  if (decodeURIComponent(parsed.username) !== appRole || parsed.password === '') return false
  const password = decodeURIComponent(parsed.password)
  // ALTER ROLE takes no bind parameters: quote the literal the way format('%L') does.
  const [row] = await session.query<{ sql: string }>('SELECT format($1, $2::text) AS sql', [
    `ALTER ROLE ${appRole} PASSWORD %L`,
    password,
  ])
  if (row !== undefined) await session.exec(row.sql)
  return true
}
