// Logical backups of a Postgres database: pg_dump's custom format beside a manifest that records what the dump
// holds (row counts, migrations, row-level security, the app role's privileges) and its sha256, so a restore can
// refuse a damaged file and prove afterwards that nothing was lost and tenant isolation still holds.
// @see https://www.postgresql.org/docs/15/app-pgdump.html
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import pg from 'pg'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { ConfigError, loadEnvConfig } from '../../common/env-config.ts'
import {
  inventory,
  inventoryDifferences,
  requireRlsBypass,
  rowSecurityProblems,
  userObjects,
} from './database-inventory.ts'
import { APP_ROLE } from './embedded.ts'
import { syncAppRolePassword } from './operator-session.ts'
import { pgSession, type SqlSession } from './sql-session.ts'

const PostgresUrl = (description: string) => Type.String({ pattern: '^postgres(ql)?://', description })

export const BackupEnvSchema = Type.Object({
  DATABASE_OWNER_URL: Type.Optional(
    PostgresUrl('The database to back up or restore into, as a role that bypasses RLS'),
  ),
  DATABASE_URL: Type.Optional(
    PostgresUrl('The app role connection: restore sets its password from it, as db:migrate does'),
  ),
  PG_BIN_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description: "Folder of pg_dump/pg_restore (default: PATH); their major version must be at least the server's",
    }),
  ),
})

export interface BackupEnv {
  ownerUrl: string
  appUrl: string | undefined
  pgBinDir: string | undefined
}

export function loadBackupEnv(command: string, env: Record<string, string | undefined>): BackupEnv {
  const config = loadEnvConfig(BackupEnvSchema, env)
  if (config.DATABASE_OWNER_URL === undefined) {
    throw new ConfigError([
      `DATABASE_OWNER_URL: ${command} needs a Postgres server (it runs pg_dump/pg_restore) and is not set. ` +
        'For the embedded PGlite database, stop the API and copy the DATA_DIR/pglite folder instead (to back up, or back to restore).',
    ])
  }
  return { ownerUrl: config.DATABASE_OWNER_URL, appUrl: config.DATABASE_URL, pgBinDir: config.PG_BIN_DIR }
}

const RowSecuritySchema = Type.Object({
  table: Type.String(),
  enabled: Type.Boolean(),
  forced: Type.Boolean(),
  policies: Type.Array(Type.String()),
})

export const ManifestSchema = Type.Object({
  format: Type.Literal('gatehouse-backup'),
  version: Type.Literal(1),
  createdAt: Type.String(),
  database: Type.String(),
  serverVersion: Type.String(),
  pgDumpVersion: Type.String(),
  migrations: Type.Array(Type.String()),
  tables: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  rowSecurity: Type.Array(RowSecuritySchema),
  appRole: Type.String(),
  appRoleGrants: Type.Array(Type.String()),
  dump: Type.Object({
    file: Type.String({ pattern: '^[^/\\\\]+$' }),
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  }),
  durationMs: Type.Integer({ minimum: 0 }),
})

export type Manifest = Static<typeof ManifestSchema>

export class BackupError extends Error {}
export class TargetNotEmptyError extends Error {}

/** A libpq connection string without the password, which goes in PGPASSWORD so `ps` never shows it. */
function libpqTarget(url: string): { dbname: string; password: string | undefined } {
  const parsed = new URL(url)
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password)
  parsed.password = ''
  return { dbname: parsed.toString(), password }
}

async function runPgTool(tool: 'pg_dump' | 'pg_restore', args: string[], env: BackupEnv): Promise<string> {
  const command = env.pgBinDir === undefined ? tool : join(env.pgBinDir, tool)
  const { password } = libpqTarget(env.ownerUrl)
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: {
        ...process.env,
        PGAPPNAME: `gatehouse-${tool}`,
        ...(password === undefined ? {} : { PGPASSWORD: password }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new BackupError(
          error.code === 'ENOENT'
            ? `${command} not found: install the PostgreSQL client tools (postgresql-client) or set PG_BIN_DIR`
            : `${command} could not start: ${error.message}`,
        ),
      )
    })
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout)
      else reject(new BackupError(`${tool} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`))
    })
  })
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function withOwner<T>(url: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'gatehouse-backup',
    connectionTimeoutMillis: 10_000,
  })
  await client.connect()
  try {
    return await work(pgSession(client))
  } finally {
    await client.end()
  }
}

const stamp = (date: Date): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')

export interface BackupResult {
  dumpPath: string
  manifestPath: string
  manifest: Manifest
}

export async function backup(env: BackupEnv, outDir: string): Promise<BackupResult> {
  const started = performance.now()
  const pgDumpVersion = (await runPgTool('pg_dump', ['--version'], env)).trim()
  // Every tenant's data is in the dump: only its owner may read it.
  await mkdir(outDir, { recursive: true, mode: 0o700 })
  return withOwner(env.ownerUrl, async session => {
    await requireRlsBypass(session, 'A backup')
    // The counts in the manifest and pg_dump read one exported snapshot: writes during the backup land in neither.
    await session.exec('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    try {
      const [snapshot] = await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id')
      const facts = await inventory(session, APP_ROLE)
      const createdAt = new Date()
      const name = `${facts.database}-${stamp(createdAt)}`
      const dumpPath = join(outDir, `${name}.dump`)
      const partial = `${dumpPath}.partial`
      try {
        await runPgTool(
          'pg_dump',
          [
            '--format=custom',
            '--no-password',
            `--snapshot=${snapshot!.id}`,
            `--file=${partial}`,
            `--dbname=${libpqTarget(env.ownerUrl).dbname}`,
          ],
          env,
        )
        await chmod(partial, 0o600)
        await rename(partial, dumpPath)
      } catch (error) {
        await rm(partial, { force: true })
        throw error
      }
      const manifest: Manifest = {
        format: 'gatehouse-backup',
        version: 1,
        createdAt: createdAt.toISOString(),
        database: facts.database,
        serverVersion: facts.serverVersion,
        pgDumpVersion,
        migrations: facts.migrations,
        tables: facts.tables,
        rowSecurity: facts.rowSecurity,
        appRole: APP_ROLE,
        appRoleGrants: facts.appRoleGrants,
        dump: { file: basename(dumpPath), bytes: (await stat(dumpPath)).size, sha256: await sha256File(dumpPath) },
        durationMs: Math.round(performance.now() - started),
      }
      // Written last and renamed into place: a manifest on disk always describes a complete dump.
      const manifestPath = join(outDir, `${name}.manifest.json`)
      await writeFile(`${manifestPath}.partial`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
      await rename(`${manifestPath}.partial`, manifestPath)
      return { dumpPath, manifestPath, manifest }
    } finally {
      await session.exec('ROLLBACK')
    }
  })
}

export async function readManifest(path: string): Promise<Manifest> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new BackupError(`cannot read the manifest ${path}: ${(error as Error).message}`)
  }
  if (!Value.Check(ManifestSchema, parsed)) {
    const first = [...Value.Errors(ManifestSchema, parsed)][0]
    throw new BackupError(
      `${path} is not a gatehouse backup manifest (${first?.instancePath || '/'} ${first?.message ?? 'is invalid'})`,
    )
  }
  return parsed
}

// The init migration's statement: the app role is cluster-wide, so a dump of one database never contains it.
const ENSURE_APP_ROLE = `DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
        CREATE ROLE "${APP_ROLE}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$`

export interface RestoreTimings {
  checksumMs: number
  restoreMs: number
  analyzeMs: number
  verifyMs: number
}

export interface RestoreResult {
  manifest: Manifest
  database: string
  replaced: number
  appRoleCreated: boolean
  passwordSet: boolean
  timings: RestoreTimings
}

/**
 * Restores a backup into the database of DATABASE_OWNER_URL, which must be empty unless `force`
 * (then pg_restore --clean drops the objects the backup contains first). One transaction: a failed
 * restore leaves the database as it was. Throws BackupError when the restored data differs from the manifest.
 */
export async function restore(env: BackupEnv, manifestPath: string, force: boolean): Promise<RestoreResult> {
  const manifest = await readManifest(manifestPath)
  const dumpPath = join(dirname(manifestPath), manifest.dump.file)
  let clock = performance.now()
  const lap = (): number => {
    const now = performance.now()
    const ms = Math.round(now - clock)
    clock = now
    return ms
  }

  const size = await stat(dumpPath).then(
    info => info.size,
    () => {
      throw new BackupError(`the dump ${dumpPath} named by the manifest does not exist`)
    },
  )
  const sha256 = await sha256File(dumpPath)
  if (sha256 !== manifest.dump.sha256 || size !== manifest.dump.bytes) {
    throw new BackupError(
      `refusing to restore: ${dumpPath} does not match its manifest (sha256 ${sha256}, ${size} bytes; ` +
        `the manifest says ${manifest.dump.sha256}, ${manifest.dump.bytes} bytes). The file is damaged or not the one this manifest describes.`,
    )
  }
  const checksumMs = lap()

  return withOwner(env.ownerUrl, async session => {
    await requireRlsBypass(session, 'Verifying a restore')
    const [{ database } = { database: '' }] = await session.query<{ database: string }>(
      'SELECT current_database() AS database',
    )
    const existing = await userObjects(session)
    if (existing.length > 0 && !force) {
      throw new TargetNotEmptyError(
        `database ${database} is not empty (${existing.length} objects, e.g. ${existing.slice(0, 3).join(', ')}); ` +
          'restore into a new empty database (CREATE DATABASE), or pass --force to drop and replace the objects the backup contains ' +
          '(rows written since the backup are then lost; objects the backup lacks stay)',
      )
    }
    const [role] = await session.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists',
      [APP_ROLE],
    )
    // Before pg_restore: the dump's GRANTs to the app role fail, and so the whole restore, if it is missing.
    await session.exec(ENSURE_APP_ROLE)
    lap()
    await runPgTool(
      'pg_restore',
      [
        '--single-transaction',
        '--exit-on-error',
        '--no-owner',
        '--no-password',
        ...(force ? ['--clean', '--if-exists'] : []),
        `--dbname=${libpqTarget(env.ownerUrl).dbname}`,
        dumpPath,
      ],
      env,
    )
    const restoreMs = lap()
    // pg_restore brings no planner statistics: without them the first queries plan as if the tables were empty.
    await session.exec('ANALYZE')
    const analyzeMs = lap()

    const restored = await inventory(session, APP_ROLE)
    const problems = [...inventoryDifferences(manifest, restored), ...rowSecurityProblems(restored.rowSecurity)]
    const verifyMs = lap()
    if (problems.length > 0) {
      throw new BackupError(
        `restored into ${database}, but it does not match the backup:\n${problems.map(p => `  - ${p}`).join('\n')}`,
      )
    }
    const passwordSet = await syncAppRolePassword(session, env.appUrl, APP_ROLE)
    return {
      manifest,
      database,
      replaced: existing.length,
      appRoleCreated: role?.exists !== true,
      passwordSet,
      timings: { checksumMs, restoreMs, analyzeMs, verifyMs },
    }
  })
}
