// The embedded default: real Postgres compiled to WebAssembly, in-process, with its files in DATA_DIR.
// Migrations run as the session's superuser (the owner); the app then switches to the non-owner role,
// so row-level security applies exactly as on a Postgres server.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { migrate } from './migrate.js'
import { seedDemoData } from './seed.js'
import { pgliteSession } from './sql-session.js'

export const APP_ROLE = 'gatehouse_app'

export class EmbeddedDatabaseBusyError extends Error {
  constructor (dataDir: string, pid: number) {
    super(`The embedded database in ${dataDir} is open in process ${pid}. PGlite allows one process at a time: ` +
      'stop that process first (or point DATABASE_URL at a Postgres server).')
    this.name = 'EmbeddedDatabaseBusyError'
  }
}

function processIsAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A pid file beside the data folder: two processes writing one PGlite folder would corrupt it. */
function claimDataDir (dataDir: string): () => void {
  const lockPath = `${dataDir}.pid`
  mkdirSync(dirname(lockPath), { recursive: true })
  try {
    const holder = Number(readFileSync(lockPath, 'utf8'))
    if (Number.isInteger(holder) && holder !== process.pid && processIsAlive(holder)) {
      throw new EmbeddedDatabaseBusyError(dataDir, holder)
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  writeFileSync(lockPath, String(process.pid))
  return () => rmSync(lockPath, { force: true })
}

export interface EmbeddedDatabase {
  db: PGlite
  close(): Promise<void>
}

/**
 * Opens (creating if needed) and migrates the embedded database. `dataDir` undefined keeps it in memory.
 * `asAppRole: false` leaves the session as the owner, for operator scripts.
 */
export async function openEmbedded (
  dataDir: string | undefined,
  { seed = false, asAppRole = true }: { seed?: boolean, asAppRole?: boolean } = {},
): Promise<EmbeddedDatabase> {
  const release = dataDir === undefined ? () => {} : claimDataDir(dataDir)
  try {
    if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true })
    const db = await PGlite.create(dataDir === undefined ? {} : { dataDir })
    const session = pgliteSession(db)
    await migrate(session)
    if (seed) await seedDemoData(session)
    if (asAppRole) await db.exec(`SET ROLE ${APP_ROLE}`)
    return {
      db,
      async close () {
        await db.close()
        release()
      },
    }
  } catch (error) {
    release()
    throw error
  }
}
