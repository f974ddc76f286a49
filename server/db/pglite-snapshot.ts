// Freshly initialised PGlite data folders, made once and reused: running initdb inside WebAssembly takes seconds
// (a second PGlite instance runs initdb.wasm), loading the same files from a tarball a fraction of that. Two kinds:
// initdb's alone (per PGlite version), and the same with the project's migrations applied (per migrations too).
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'
import { migrate, MIGRATIONS_DIR, readMigrations, type Migration } from './migrate.ts'
import { pgliteSession } from './sql-session.ts'

// Where the package is installed: its version names the snapshot, and the cache lives in the node_modules that
// holds it (as other tools' caches do), so reinstalling or upgrading PGlite leaves no stale snapshot behind.
// Resolved through the CommonJS entry: the package's exports do not include its package.json.
const pgliteDir = dirname(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')))
const PGLITE_VERSION = (JSON.parse(readFileSync(join(pgliteDir, 'package.json'), 'utf8')) as { version: string })
  .version

/**
 * Every embedded database starts with PGlite's own start parameters and 16 MB of shared buffers, not the 128 MB
 * initdb writes into postgresql.conf: Postgres sets up all of its shared buffers at each start, which in WebAssembly
 * was a third of opening a data folder (870 → 540 ms of wall time, 1.3 → 0.9 s of CPU, three opens each). A
 * single-user database of a developer's or a test's few MB uses a fraction of 16 MB; the OS caches its files anyway.
 */
export const PGLITE_START_PARAMS: readonly string[] = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB']

/** Opens (or makes) a PGlite database as every embedded one in this project is opened. */
export const startPglite = (options: PGliteOptions): Promise<PGlite> =>
  PGlite.create({ ...options, startParams: [...PGLITE_START_PARAMS] })

/**
 * A PGlite instance serves the one database it was started on, here always `postgres`. initdb also makes template0
 * and template1, 7 MB each, which only CREATE DATABASE reads, and nothing here starts PGlite on another database.
 * Snapshots leave them out: 25 MB to load instead of 40, and every open is cheaper (first open in a
 * process 1.26 → 0.95 s of CPU, later ones 0.75 → 0.33 s, measured 2026-12-05). The name says so, so a snapshot
 * cached before is not taken for one of these.
 */
const DATABASES_DROPPED = ['template0', 'template1'] as const
const SNAPSHOT_LAYOUT = 'postgres-only'

export const SNAPSHOT_CACHE_DIR = join(pgliteDir, '..', '..', '.cache', 'gatehouse')
// Uncompressed: a gzip one loaded no faster here (1.0–2.6 s of CPU against 1.0–2.2 s, 3 runs each, at 40 MB).
export function snapshotFile(cacheDir = SNAPSHOT_CACHE_DIR): string {
  return join(cacheDir, `pglite-${PGLITE_VERSION}-initdb-${SNAPSHOT_LAYOUT}.tar`)
}

/**
 * Named by the migrations it holds (names and the checksums migrate() records): a migration added, renamed or
 * edited names another file, so a database is never made from a stale one.
 */
export function migratedSnapshotFile(migrations: Migration[], cacheDir = SNAPSHOT_CACHE_DIR): string {
  const hash = createHash('sha256').update(`${SNAPSHOT_LAYOUT}\n`)
  for (const { name, checksum } of migrations) hash.update(`${name}\0${checksum}\n`)
  return join(cacheDir, `pglite-${PGLITE_VERSION}-migrated-${hash.digest('hex').slice(0, 16)}.tar`)
}

/**
 * A Blob whose `arrayBuffer()`, the one read PGlite makes of `loadDataDir`, answers from memory: Node's own
 * streams the tarball through its reader in small steps, 0.3 s of CPU and often a second of waiting per database
 * here (at 40 MB, with the templates).
 * Every other Blob method reads the same bytes the ordinary way.
 */
class BytesBlob extends Blob {
  readonly #tarball: Uint8Array

  constructor(tarball: Uint8Array) {
    super([tarball])
    this.#tarball = tarball
  }

  // A copy each time: no database ever holds bytes another one was loaded from.
  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(new Uint8Array(this.#tarball).buffer)
  }
}

/**
 * `prepare` makes a data folder in a scratch directory and shuts it down; the folder is then tarred without
 * starting Postgres again (`noInitDb`). A tarball of a running database would need crash recovery on every load:
 * a second more of CPU each, and the recovery progress timer Postgres arms (setitimer, a Node timeout here) kept
 * every process that opened one alive.
 */
async function stoppedTarball(prepare: (dataDir: string) => Promise<PGlite>): Promise<Uint8Array> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-initdb-'))
  try {
    await (await prepare(dataDir)).close()
    const stopped = await startPglite({ dataDir, noInitDb: true })
    try {
      return new Uint8Array(await (await stopped.dumpDataDir('none')).arrayBuffer())
    } finally {
      await stopped.close()
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function makeSnapshot(file: string, makeTarball: () => Promise<Uint8Array>): Promise<Blob> {
  const tarball = await makeTarball()
  // Written to a name of its own and renamed into place: test files start many processes at once, and none of
  // them may read a half-written snapshot. Two that both miss both write it; the last rename wins, same bytes.
  const partial = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.partial`
  try {
    await mkdir(dirname(file), { recursive: true })
    await writeFile(partial, tarball)
    await rename(partial, file)
  } catch {
    // A read-only or full disk costs the next process an initdb, nothing more. (Where the folder could not be
    // made, even the clean-up fails: ENOTDIR is not the ENOENT that `force` ignores.)
    await rm(partial, { force: true }).catch(() => {})
  }
  return new BytesBlob(tarball)
}

// One read per process: a test file opens many databases, and a Blob is immutable, so they can share it.
const snapshots = new Map<string, Promise<Blob>>()

function cachedSnapshot(file: string, makeTarball: () => Promise<Uint8Array>): Promise<Blob> {
  let snapshot = snapshots.get(file)
  if (snapshot === undefined) {
    // Any file that cannot be read (none yet, or a cache folder the disk refuses) is a miss.
    snapshot = readFile(file).then(
      bytes => new BytesBlob(bytes),
      () => makeSnapshot(file, makeTarball),
    )
    // A failure is not remembered: the next caller tries again.
    snapshot.catch(() => snapshots.delete(file))
    snapshots.set(file, snapshot)
  }
  return snapshot
}

/** A new data folder as `PGlite.create()` makes it, less the template databases (see DATABASES_DROPPED). */
async function initdbWithoutTemplates(dataDir: string): Promise<PGlite> {
  const db = await startPglite({ dataDir })
  for (const name of DATABASES_DROPPED) {
    await db.exec(`ALTER DATABASE ${name} IS_TEMPLATE false`)
    await db.exec(`DROP DATABASE ${name}`)
  }
  return db
}

/** The tarball of a new, empty data folder (initdb's, less the template databases) for `loadDataDir`. */
export function initdbSnapshot(cacheDir = SNAPSHOT_CACHE_DIR): Promise<Blob> {
  return cachedSnapshot(snapshotFile(cacheDir), async () => {
    const tarball = await stoppedTarball(initdbWithoutTemplates)
    // The one made before the templates were left out: 40 MB that nothing reads any more.
    await rm(join(cacheDir, `pglite-${PGLITE_VERSION}-initdb.tar`), { force: true }).catch(() => {})
    return tarball
  })
}

// A migrated snapshot not loaded for this long, beside a new one, is one whose migrations have moved on. Worktrees
// sharing node_modules may each use their own at once: each load marks its file, so none deletes another's in use.
const STALE_MIGRATED_MS = 24 * 3600_000

async function pruneMigratedSnapshots(keep: string): Promise<void> {
  const dir = dirname(keep)
  const prefix = `pglite-${PGLITE_VERSION}-migrated-`
  for (const name of await readdir(dir).catch(() => [])) {
    const file = join(dir, name)
    if (!name.startsWith(prefix) || !name.endsWith('.tar') || file === keep) continue
    const stats = await stat(file).catch(() => undefined)
    if (stats !== undefined && Date.now() - stats.mtimeMs > STALE_MIGRATED_MS) await rm(file, { force: true })
  }
}

/**
 * A new data folder with `migrationsDir`'s migrations applied (as migrate() applies them, bookkeeping included), for
 * `loadDataDir`: opening one skips initdb and the migrations. The initdb snapshot from `cacheDir` is its base.
 */
export async function migratedSnapshot(migrationsDir = MIGRATIONS_DIR, cacheDir = SNAPSHOT_CACHE_DIR): Promise<Blob> {
  const migrations = await readMigrations(migrationsDir)
  const file = migratedSnapshotFile(migrations, cacheDir)
  const known = snapshots.has(file)
  const snapshot = cachedSnapshot(file, async () => {
    const tarball = await stoppedTarball(async dataDir => {
      const db = await startPglite({ dataDir, loadDataDir: await initdbSnapshot(cacheDir) })
      // A migration that fails fails every open, as it would without the cache; the database still closes.
      await migrate(pgliteSession(db), migrations).catch(async (error: unknown) => {
        await db.close()
        throw error
      })
      return db
    })
    await pruneMigratedSnapshots(file)
    return tarball
  })
  // Marked as used once per process (see STALE_MIGRATED_MS); a cache the disk refuses only loses the mark.
  if (!known) void snapshot.then(() => utimes(file, new Date(), new Date())).catch(() => {})
  return snapshot
}

/** A new, empty database (initdb's, less the template databases; not migrated), in memory or in `dataDir`. */
export async function createEmptyPglite(dataDir?: string): Promise<PGlite> {
  return startPglite({ dataDir, loadDataDir: await initdbSnapshot() })
}

/** A new database with this project's migrations applied, in memory or in `dataDir`. */
export async function createMigratedPglite(dataDir?: string): Promise<PGlite> {
  return startPglite({ dataDir, loadDataDir: await migratedSnapshot() })
}
