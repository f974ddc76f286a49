// Databases made from the cached initdb snapshot must be what initdb makes, each its own, and the cache must
// never be seen half-written nor be needed: a disk that refuses it only costs time.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import t, { type Test } from 'tap'
import { initdbSnapshot, snapshotFile } from '../../../server/db/pglite-snapshot.js'

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

// What initdb decides and a test could notice: encoding, locale, the roles and databases it made, settings.
const catalogue = async (db: PGlite): Promise<unknown[]> =>
  Promise.all(
    [
      'SELECT datname, pg_encoding_to_char(encoding) AS encoding, datcollate, datctype FROM pg_database ORDER BY 1',
      'SELECT rolname, rolsuper FROM pg_roles ORDER BY 1',
      "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%' ORDER BY 1",
      "SELECT name, setting FROM pg_settings WHERE source NOT IN ('default', 'override') ORDER BY 1",
    ].map(async sql => (await db.query(sql)).rows),
  )

t.test('a miss makes the snapshot, writes it whole under its own name, and loads as initdb made it', async t => {
  const cacheDir = await tempDir(t)
  const snapshot = await initdbSnapshot(cacheDir)
  t.same(await readdir(cacheDir), [snapshotFile(cacheDir).slice(cacheDir.length + 1)], 'no partial file left')
  t.same(new Uint8Array(await readFile(snapshotFile(cacheDir))), new Uint8Array(await snapshot.arrayBuffer()))
  t.equal(await initdbSnapshot(cacheDir), snapshot, 'read once per process')

  const [initdb, first, second] = [await open(t), await open(t, snapshot), await open(t, snapshot)]
  t.same(await catalogue(first), await catalogue(initdb))
  await first.exec('CREATE TABLE only_here (id int)')
  t.same((await second.query("SELECT to_regclass('only_here') AS t")).rows, [{ t: null }], 'each its own database')
})

t.test('a cache that cannot be written still gives a snapshot', async t => {
  const blocker = join(await tempDir(t), 'a-file')
  await writeFile(blocker, '')
  const snapshot = await initdbSnapshot(join(blocker, 'cache'))
  t.ok(snapshot.size > 1_000_000, `a data folder's tarball (${snapshot.size} bytes)`)
})
