// Applies prisma/migrations the way `prisma migrate deploy` does, because the Prisma CLI cannot fetch
// its schema engine here. Same bookkeeping table, checksums and advisory lock as Prisma, so the CLI's
// `migrate status` and `migrate deploy` agree with what this wrote wherever the CLI does work.
import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SqlSession } from './sql-session.ts'

// prisma/migrations at the project root, whether this runs from server/db (the sources) or dist/server/db (built).
export const MIGRATIONS_DIR =
  [new URL('../../prisma/migrations', import.meta.url), new URL('../../../prisma/migrations', import.meta.url)]
    .map(url => fileURLToPath(url))
    .find(dir => existsSync(dir)) ?? fileURLToPath(new URL('../../prisma/migrations', import.meta.url))
const PRISMA_ADVISORY_LOCK_KEY = 72707369

export interface Migration {
  name: string
  sql: string
  checksum: string
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
  warnings: string[]
}

export class MigrationError extends Error {
  readonly migration?: string
  constructor(message: string, migration?: string) {
    super(message)
    this.migration = migration
    this.name = 'MigrationError'
  }
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries
    .filter(entry => entry.isDirectory())
    .map(entry => entry.name)
    .sort()
  return Promise.all(
    names.map(async name => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    }),
  )
}

interface AppliedRow {
  migration_name: string
  checksum: string
  finished_at: Date | null
  rolled_back_at: Date | null
}

const CREATE_BOOKKEEPING_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

// Statements Postgres refuses inside a transaction block; such a migration runs without one, as Prisma's does.
const NEEDS_AUTOCOMMIT =
  /\b(CREATE|DROP|REINDEX)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b|\bALTER\s+TYPE\b[^;]*\bADD\s+VALUE\b|\bVACUUM\b/i

/**
 * Applies every pending migration, in name order, each in its own transaction, under Prisma's advisory lock.
 * `source` is a migrations folder in Prisma's layout (default: this project's) or the migrations themselves.
 */
export async function migrate(
  session: SqlSession,
  source: string | Migration[] = MIGRATIONS_DIR,
): Promise<MigrateResult> {
  const local = typeof source === 'string' ? await readMigrations(source) : source
  const origin = typeof source === 'string' ? source : 'the migrations given'
  const result: MigrateResult = { applied: [], alreadyApplied: [], warnings: [] }
  await session.query(`SELECT pg_advisory_lock(${PRISMA_ADVISORY_LOCK_KEY})`)
  try {
    await session.exec(CREATE_BOOKKEEPING_TABLE)
    const rows = await session.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    )

    const failed = rows.find(row => row.finished_at === null && row.rolled_back_at === null)
    if (failed !== undefined) {
      throw new MigrationError(
        `Migration ${failed.migration_name} failed earlier (see the logs column of _prisma_migrations). ` +
          'Fix the database, then mark it rolled back (`prisma migrate resolve --rolled-back`) or set rolled_back_at, and run again.',
        failed.migration_name,
      )
    }
    const done = new Map(rows.filter(row => row.finished_at !== null).map(row => [row.migration_name, row]))
    const localNames = new Set(local.map(migration => migration.name))
    for (const name of done.keys()) {
      if (!localNames.has(name)) result.warnings.push(`${name} is applied in the database but missing from ${origin}`)
    }

    for (const migration of local) {
      const previous = done.get(migration.name)
      if (previous !== undefined) {
        if (previous.checksum !== migration.checksum) {
          result.warnings.push(`${migration.name} was modified after it was applied (checksum differs)`)
        }
        result.alreadyApplied.push(migration.name)
        continue
      }
      await applyOne(session, migration)
      result.applied.push(migration.name)
    }
    return result
  } finally {
    await session.query(`SELECT pg_advisory_unlock(${PRISMA_ADVISORY_LOCK_KEY})`)
  }
}

async function applyOne(session: SqlSession, migration: Migration): Promise<void> {
  const id = randomUUID()
  await session.query(
    'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
    [id, migration.checksum, migration.name],
  )
  const transactional = !NEEDS_AUTOCOMMIT.test(migration.sql)
  try {
    if (transactional) await session.exec('BEGIN')
    await session.exec(migration.sql)
    if (transactional) await session.exec('COMMIT')
  } catch (error) {
    if (transactional) await session.exec('ROLLBACK').catch(() => {})
    const message = error instanceof Error ? error.message : String(error)
    await session.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, message])
    throw new MigrationError(`Migration ${migration.name} failed: ${message}`, migration.name)
  }
  await session.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [
    id,
  ])
}
