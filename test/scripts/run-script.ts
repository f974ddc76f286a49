// Runs an operator command as `npm run` does (Node running the TypeScript, as every other test process runs), with a
// clean environment: only the database and secret settings a test passes reach it, nothing from the developer's shell.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { openEmbedded } from '../../server/db/embedded.ts'
import { postgresUrls } from '../helpers/backends.ts'

const PROJECT_ROOT = new URL('../../', import.meta.url).pathname
const SETTINGS = ['DATABASE_URL', 'DATABASE_OWNER_URL', 'DATA_DIR', 'IDENTITY_SECRET', 'LOG_LEVEL']

export interface ScriptResult {
  code: number | null
  stdout: string
  stderr: string
}

export async function runScript(script: string, args: string[], env: Record<string, string>): Promise<ScriptResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !SETTINGS.includes(key)))
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [`scripts/${script}.ts`, ...args],
      { cwd: PROJECT_ROOT, env: { ...base, ...env }, timeout: 90_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    )
  })
}

/** An empty database of its own on the Postgres server, dropped when the test ends. Returns its owner URL. */
export async function throwawayDatabase(t: Test, ownerUrl: string): Promise<string> {
  const name = `gatehouse_scripts_${randomBytes(5).toString('hex')}`
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: ownerUrl })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  t.teardown(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  const url = new URL(ownerUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** One query on a Postgres database as its owner. */
export async function queryPostgres<Row>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as Row[]
  } finally {
    await client.end()
  }
}

/** Where a command runs: a fresh embedded database in a temp DATA_DIR, or a throwaway Postgres database. */
export interface Target {
  name: 'pglite' | 'postgres'
  env: Record<string, string>
  /** Inspect the target as its owner (after the command has exited: PGlite admits one process). */
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>
}

export function forEachTarget(t: Test, suite: (t: Test, target: Target) => Promise<void>): void {
  t.test('pglite', async t => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-scripts-'))
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    await suite(t, {
      name: 'pglite',
      env: { DATA_DIR: dataDir },
      async query<Row>(sql: string, params: unknown[] = []) {
        const embedded = await openEmbedded(join(dataDir, 'pglite'), { asAppRole: false })
        try {
          return (await embedded.db.query<Row>(sql, params)).rows
        } finally {
          await embedded.close()
        }
      },
    })
  })
  const urls = postgresUrls()
  if (urls !== undefined) {
    t.test('postgres', async t => {
      const url = await throwawayDatabase(t, urls.owner)
      await suite(t, {
        name: 'postgres',
        env: { DATABASE_OWNER_URL: url },
        query: (sql, params) => queryPostgres(url, sql, params),
      })
    })
  }
}
