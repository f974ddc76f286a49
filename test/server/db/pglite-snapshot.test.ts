// Databases made from the cached snapshots must be what initdb (and the migrations) make, each its own; the cache
// must never be seen half-written nor be needed (a disk that refuses it only costs time), nor outlive its migrations.
import { cp, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import t, { type Test } from 'tap'
import { migrate, MIGRATIONS_DIR, readMigrations } from '../../../server/db/migrate.ts'
import {
  initdbSnapshot,
  migratedSnapshot,
  migratedSnapshotFile,
  snapshotFile,
} from '../../../server/db/pglite-snapshot.ts'
import { pgliteSession } from '../../../server/db/sql-session.ts'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-snapshot-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function open(t: Test, loadDataDir?: Blob): Promise<PGlite> {
  const db = await PGlite.create({ loadDataDir })
  t.teardown(() => db.close())
  return db
}

/**
 * The file holds the snapshot's bytes exactly. Compared at once: t.same walked 40 MB byte by byte, ~20 s each, and
 * the file once took 151–189 s in CI against the suite's 180 s limit (28 s since, in CI at a2e3ea7 and aa61cb1).
 */
async function sameBytes(t: Test, file: string, snapshot: Blob, message: string): Promise<void> {
  const [onDisk, inMemory] = [await readFile(file), Buffer.from(await snapshot.arrayBuffer())]
  t.ok(onDisk.equals(inMemory), `${message} (${onDisk.length} bytes on disk, ${inMemory.length} in the snapshot)`)
}

const rowsOf = async (db: PGlite, queries: string[]): Promise<unknown[]> =>
  Promise.all(queries.map(async sql => (await db.query(sql)).rows))

// What initdb decides and a test could notice: encoding, locale, the roles and the database it made, settings.
// The template databases are not in the snapshot (pglite-snapshot.ts): a connection can only open `postgres`.
const catalogue = async (db: PGlite): Promise<unknown[]> =>
  rowsOf(db, [
    `SELECT datname, pg_encoding_to_char(encoding) AS encoding, datcollate, datctype FROM pg_database
        WHERE datname = 'postgres'`,
    'SELECT rolname, rolsuper FROM pg_roles ORDER BY 1',
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%' ORDER BY 1",
    "SELECT name, setting FROM pg_settings WHERE source NOT IN ('default', 'override') ORDER BY 1",
  ])

t.test('a miss makes the snapshot, writes it whole under its own name, and loads as initdb made it', async t => {
  const cacheDir = await tempDir(t)
  // One of the layout before the template databases were left out (a name without the layout in it).
  const oldLayout = snapshotFile(cacheDir).replace(/-initdb-[^/]+\.tar$/, '-initdb.tar')
  await writeFile(oldLayout, 'an older snapshot')
  const snapshot = await initdbSnapshot(cacheDir)
  t.same(
    await readdir(cacheDir),
    [snapshotFile(cacheDir).slice(cacheDir.length + 1)],
    'no partial file left, and the old layout removed',
  )
  await sameBytes(t, snapshotFile(cacheDir), snapshot, 'written whole')
  t.equal(await initdbSnapshot(cacheDir), snapshot, 'read once per process')

  const [initdb, first, second] = [await open(t), await open(t, snapshot), await open(t, snapshot)]
  t.same(await catalogue(first), await catalogue(initdb))
  t.same(
    (await first.query('SELECT datname FROM pg_database')).rows,
    [{ datname: 'postgres' }],
    'the one database PGlite opens, without the templates',
  )
  t.ok(snapshot.size < 30_000_000, `a smaller tarball without them (${snapshot.size} bytes)`)
  await first.exec('CREATE TABLE only_here (id int)')
  t.same((await second.query("SELECT to_regclass('only_here') AS t")).rows, [{ t: null }], 'each its own database')
})

t.test('a cache that cannot be written still gives a snapshot', async t => {
  const blocker = join(await tempDir(t), 'a-file')
  await writeFile(blocker, '')
  const snapshot = await initdbSnapshot(join(blocker, 'cache'))
  t.ok(snapshot.size > 1_000_000, `a data folder's tarball (${snapshot.size} bytes)`)
})

/** A cache folder holding this machine's initdb snapshot already, so a test makes only the migrated one. */
async function cacheWithInitdb(t: Test): Promise<string> {
  const cacheDir = await tempDir(t)
  await writeFile(snapshotFile(cacheDir), new Uint8Array(await (await initdbSnapshot()).arrayBuffer()))
  return cacheDir
}

// What the migrations make and a test could notice: tables and columns, policies, the app role, the bookkeeping.
const schema = async (db: PGlite): Promise<unknown[]> =>
  rowsOf(db, [
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
        WHERE table_schema = 'public' ORDER BY 1, 2`,
    'SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies ORDER BY 1, 2',
    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
    'SELECT rolname, rolsuper, rolbypassrls FROM pg_roles ORDER BY 1',
    'SELECT migration_name, checksum, applied_steps_count, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY 1',
  ])

t.test('a migrated snapshot holds what migrate() makes of an initdb one, under a name its migrations give', async t => {
  const cacheDir = await cacheWithInitdb(t)
  const snapshot = await migratedSnapshot(MIGRATIONS_DIR, cacheDir)
  const file = migratedSnapshotFile(await readMigrations(), cacheDir)
  await sameBytes(t, file, snapshot, 'written whole')
  t.same((await readdir(cacheDir)).sort(), [file, snapshotFile(cacheDir)].map(f => f.slice(cacheDir.length + 1)).sort())
  t.equal(await migratedSnapshot(MIGRATIONS_DIR, cacheDir), snapshot, 'read once per process')

  const migratedForReal = await open(t, await initdbSnapshot())
  await migrate(pgliteSession(migratedForReal))
  const [first, second] = [await open(t, snapshot), await open(t, snapshot)]
  t.same(await schema(first), await schema(migratedForReal))
  t.same((await migrate(pgliteSession(first))).applied, [], 'nothing left to apply')
  await first.exec("INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'only-here', 'x')")
  t.same((await second.query('SELECT slug FROM tenants')).rows, [], 'each its own database')
})

t.test('a migration edited or added names another snapshot, made with it', async t => {
  const cacheDir = await cacheWithInitdb(t)
  const dir = await tempDir(t)
  await cp(MIGRATIONS_DIR, dir, { recursive: true })
  const before = migratedSnapshotFile(await readMigrations(dir), cacheDir)

  const [first] = await readMigrations(dir)
  await writeFile(join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited\n`)
  const edited = migratedSnapshotFile(await readMigrations(dir), cacheDir)
  t.not(edited, before, 'an edit')

  await cp(join(MIGRATIONS_DIR, first!.name), join(dir, '99990101000000_added'), { recursive: true })
  await writeFile(join(dir, '99990101000000_added', 'migration.sql'), 'CREATE TABLE added_later (id int);\n')
  const added = migratedSnapshotFile(await readMigrations(dir), cacheDir)
  t.not(added, edited, 'an addition')
  const db = await open(t, await migratedSnapshot(dir, cacheDir))
  t.same((await db.query("SELECT to_regclass('added_later') IS NOT NULL AS made")).rows, [{ made: true }])
  t.ok((await stat(added)).isFile(), 'cached under the new name')
})

t.test('making a migrated snapshot removes others of this PGlite unused for a day, and only those', async t => {
  const cacheDir = await cacheWithInitdb(t)
  const current = migratedSnapshotFile(await readMigrations(), cacheDir)
  const sibling = (hash: string): string => current.replace(/-migrated-[0-9a-f]+\.tar$/, `-migrated-${hash}.tar`)
  const [stale, inUse, otherVersion] = [
    sibling('0'.repeat(16)),
    sibling('1'.repeat(16)),
    join(cacheDir, 'pglite-0.0.1-migrated-2.tar'),
  ]
  const twoDaysAgo = new Date(Date.now() - 48 * 3600_000)
  for (const file of [stale, inUse, otherVersion]) await writeFile(file, 'old')
  for (const file of [stale, otherVersion]) await utimes(file, twoDaysAgo, twoDaysAgo)
  await migratedSnapshot(MIGRATIONS_DIR, cacheDir)
  t.same(
    (await readdir(cacheDir)).sort(),
    [current, inUse, otherVersion, snapshotFile(cacheDir)].map(f => f.slice(cacheDir.length + 1)).sort(),
  )
})
