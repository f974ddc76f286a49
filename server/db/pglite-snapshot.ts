// A freshly initialised PGlite data folder, made once per PGlite version and reused: running initdb inside
// WebAssembly takes seconds (a second PGlite instance runs initdb.wasm), loading the same files from a tarball
// a fraction of that. Nothing is migrated in it: every database made from it still runs the migrations.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'

// Where the package is installed: its version names the snapshot, and the cache lives in the node_modules that
// holds it (as other tools' caches do), so reinstalling or upgrading PGlite leaves no stale snapshot behind.
// Resolved through the CommonJS entry: the package's exports do not include its package.json.
const pgliteDir = dirname(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')))

export const SNAPSHOT_CACHE_DIR = join(pgliteDir, '..', '..', '.cache', 'gatehouse')
// Uncompressed (40 MB): a 4.5 MB gzip one loaded no faster here (1.0–2.6 s of CPU against 1.0–2.2 s, 3 runs each).
export function snapshotFile(cacheDir = SNAPSHOT_CACHE_DIR): string {
  const { version } = JSON.parse(readFileSync(join(pgliteDir, 'package.json'), 'utf8')) as { version: string }
  return join(cacheDir, `pglite-${version}-initdb.tar`)
}

/**
 * A Blob whose `arrayBuffer()`, the one read PGlite makes of `loadDataDir`, answers from memory: Node's own
 * streams 40 MB through its reader in small steps, 0.3 s of CPU and often a second of waiting per database here.
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
 * initdb into a scratch folder, shut down, then tarred without starting Postgres again (`noInitDb`). A tarball of
 * a running database would need crash recovery on every load: a second more of CPU each, and the recovery
 * progress timer Postgres arms (setitimer, a Node timeout here) kept every process that opened one alive.
 */
async function initdbTarball(): Promise<Uint8Array> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-initdb-'))
  try {
    await (await PGlite.create({ dataDir })).close()
    const stopped = await PGlite.create({ dataDir, noInitDb: true })
    try {
      return new Uint8Array(await (await stopped.dumpDataDir('none')).arrayBuffer())
    } finally {
      await stopped.close()
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function makeSnapshot(file: string): Promise<Blob> {
  const tarball = await initdbTarball()
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

/** The tarball of a new, empty data folder (as `PGlite.create()` makes it) for `loadDataDir`. */
export function initdbSnapshot(cacheDir = SNAPSHOT_CACHE_DIR): Promise<Blob> {
  const file = snapshotFile(cacheDir)
  let snapshot = snapshots.get(file)
  if (snapshot === undefined) {
    // Any file that cannot be read (none yet, or a cache folder the disk refuses) is a miss.
    snapshot = readFile(file).then(
      bytes => new BytesBlob(bytes),
      () => makeSnapshot(file),
    )
    // A failure is not remembered: the next caller tries again.
    snapshot.catch(() => snapshots.delete(file))
    snapshots.set(file, snapshot)
  }
  return snapshot
}

/** A new, empty database (initialised as `PGlite.create()` would, not migrated), in memory or in `dataDir`. */
export async function createEmptyPglite(dataDir?: string): Promise<PGlite> {
  return PGlite.create({ dataDir, loadDataDir: await initdbSnapshot() })
}
