// The embedded default: real Postgres compiled to WebAssembly, in-process, with its files in DATA_DIR.
// Migrations run as the session's superuser (the owner); the app then switches to the non-owner role,
// so row-level security applies exactly as on a Postgres server.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import { migrate } from './migrate.ts'
import { createEmptyPglite, createMigratedPglite, startPglite } from './pglite-snapshot.ts'
import { seedDemoData } from './seed.ts'
import { pgliteSession } from './sql-session.ts'

export const APP_ROLE = 'gatehouse_app'

export class EmbeddedDatabaseBusyError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      pid === process.pid
        ? `The embedded database in ${dataDir} is already open in this process (${pid}): share that one instead of opening it again.`
        : `The embedded database in ${dataDir} is open in process ${pid}. PGlite allows one process at a time: ` +
            'stop that process first (or point DATABASE_URL at a Postgres server).',
    )
    this.name = 'EmbeddedDatabaseBusyError'
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// Folders this process has open: the pid file cannot tell this process's second opener from its first.
const openInThisProcess = new Set<string>()

/**
 * A pid file beside the data folder: two processes writing one PGlite folder would corrupt it.
 * Created exclusively ('wx'), so two processes starting at once cannot both believe they won.
 */
function claimDataDir(dataDir: string): () => void {
  const key = resolve(dataDir)
  if (openInThisProcess.has(key)) throw new EmbeddedDatabaseBusyError(dataDir, process.pid)
  const lockPath = `${dataDir}.pid`
  mkdirSync(dirname(lockPath), { recursive: true })
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: 'wx' })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    // Someone wrote it: a live holder keeps the folder; anything else (a dead process, an empty or garbled
    // file left by a crash) is stale. Without the `> 0` check, pid 0 would mean "my process group": always alive.
    const holder = Number(readFileSync(lockPath, 'utf8').trim())
    const live = Number.isInteger(holder) && holder > 0 && holder !== process.pid && processIsAlive(holder)
    // A second EEXIST means another process took the folder between our removal and our write.
    if (live || attempt === 3) throw new EmbeddedDatabaseBusyError(dataDir, live ? holder : Number.NaN)
    rmSync(lockPath, { force: true })
  }
  openInThisProcess.add(key)
  return () => {
    openInThisProcess.delete(key)
    rmSync(lockPath, { force: true })
  }
}

export interface EmbeddedDatabase {
  db: PGlite
  close(): Promise<void>
}

/**
 * Opens (creating if needed) and migrates the embedded database. `dataDir` undefined keeps it in memory.
 * `asAppRole: false` leaves the session as the owner, and `migrate: false` leaves migrating to the
 * caller, for operator scripts (db:migrate reports what it applied).
 */
export async function openEmbedded(
  dataDir: string | undefined,
  {
    seed = false,
    asAppRole = true,
    migrate: migrateOnOpen = true,
  }: { seed?: boolean; asAppRole?: boolean; migrate?: boolean } = {},
): Promise<EmbeddedDatabase> {
  const release = dataDir === undefined ? () => {} : claimDataDir(dataDir)
  try {
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true })
    // A new database starts from a cached snapshot (the files PGlite's own initdb and our migrations would write),
    // seconds sooner; a folder that already holds one (PG_VERSION, as PGlite checks) is opened as it is. Left to
    // the caller, migrations start from initdb's. migrate() still runs: on a migrated snapshot it finds all applied.
    const isNew = dataDir === undefined || !existsSync(join(dataDir, 'PG_VERSION'))
    const migrated = migrateOnOpen || seed
    const create = migrated ? createMigratedPglite : createEmptyPglite
    const db = isNew ? await create(dataDir) : await startPglite({ dataDir })
    const session = pgliteSession(db)
    if (migrated) await migrate(session)
    if (seed) await seedDemoData(session)
    if (asAppRole) await db.exec(`SET ROLE ${APP_ROLE}`)
    return {
      db,
      async close() {
        await db.close()
        release()
      },
    }
  } catch (error) {
    release()
    throw error
  }
}
