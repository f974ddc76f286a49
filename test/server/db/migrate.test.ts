// The applier stands in for `prisma migrate deploy`: it must apply each migration once, in order, record
// it the way Prisma does (so the CLI agrees), stop at a failure and stay stopped, and not race itself.
// Every test gets an empty database of its own: a throwaway one created on the Postgres server (when the
// suite has one) and an in-memory PGlite, loaded from the initdb snapshot: initialised, never migrated.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { migrate, MigrationError, MIGRATIONS_DIR } from '../../../server/db/migrate.ts'
import { createEmptyPglite } from '../../../server/db/pglite-snapshot.ts'
import { pgliteSession, pgSession, type SqlSession } from '../../../server/db/sql-session.ts'
import { postgresUrls } from '../../helpers/backends.ts'

type OpenDatabase = (t: Test) => Promise<{ connect(): Promise<SqlSession> }>

const postgresDatabase =
  (ownerUrl: string): OpenDatabase =>
  async t => {
    const name = `gatehouse_migrate_${randomBytes(5).toString('hex')}`
    const admin = new pg.Client({ connectionString: ownerUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const url = new URL(ownerUrl)
    url.pathname = `/${name}`
    const clients: pg.Client[] = []
    t.teardown(async () => {
      await Promise.all(clients.map(client => client.end()))
      const dropper = new pg.Client({ connectionString: ownerUrl })
      await dropper.connect()
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await dropper.end()
    })
    return {
      async connect() {
        const client = new pg.Client({ connectionString: url.toString() })
        await client.connect()
        clients.push(client)
        return pgSession(client)
      },
    }
  }

// PGlite is a single connection: `connect` hands out that one connection again.
const pgliteDatabase: OpenDatabase = async t => {
  const db = await createEmptyPglite()
  t.teardown(() => db.close())
  return { connect: async () => pgliteSession(db) }
}

async function migrationsDir(t: Test, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeMigrations(dir, files)
  return dir
}

async function writeMigrations(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(join(dir, name), { recursive: true })
    await writeFile(join(dir, name, 'migration.sql'), sql)
  }
}

interface Recorded {
  migration_name: string
  checksum: string
  finished: boolean
  rolled_back: boolean
  logs: string | null
  applied_steps_count: number
}

const recorded = (session: SqlSession): Promise<Recorded[]> =>
  session.query<Recorded>(
    `SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back, logs, applied_steps_count
     FROM "_prisma_migrations" ORDER BY started_at, migration_name`,
  )

const tables = async (session: SqlSession): Promise<string[]> =>
  (
    await session.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    )
  ).map(row => row.name)

function suite(t: Test, open: OpenDatabase, { concurrent }: { concurrent: boolean }): void {
  t.test("applies the project's migrations in order and records them with Prisma's checksums", async t => {
    const session = await (await open(t)).connect()
    const names = (await readdir(MIGRATIONS_DIR, { withFileTypes: true }))
      .filter(entry => entry.isDirectory())
      .map(entry => entry.name)
      .sort()
    t.not(names.length, 0)

    const first = await migrate(session)
    t.same(first, { applied: names, alreadyApplied: [], warnings: [] })
    const rows = await recorded(session)
    t.same(
      rows.map(row => row.migration_name),
      names,
      'one row per migration, in order',
    )
    for (const row of rows) {
      const sha256 = createHash('sha256')
        .update(await readFile(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql')))
        .digest('hex')
      t.match(
        row,
        { checksum: sha256, finished: true, rolled_back: false, logs: null, applied_steps_count: 1 },
        row.migration_name,
      )
    }
    t.same(await tables(session), ['_prisma_migrations', 'projects', 'tasks', 'tenant_domains', 'tenants'])

    const second = await migrate(session)
    t.same(second, { applied: [], alreadyApplied: names, warnings: [] }, 'a second run applies nothing')
    t.same(await recorded(session), rows, 'and records nothing')
  })

  t.test('stops at a failed migration, rolls it back, and refuses to go on until it is resolved', async t => {
    const session = await (await open(t)).connect()
    const dir = await migrationsDir(t, {
      '001_a': 'CREATE TABLE a (id int);',
      '002_b': 'CREATE TABLE b (id int);\nINSERT INTO no_such_table VALUES (1);',
      '003_c': 'CREATE TABLE c (id int);',
    })
    await t.rejects(migrate(session, dir), {
      name: 'MigrationError',
      migration: '002_b',
      message: /002_b failed: .*no_such_table/,
    })
    t.same(await tables(session), ['_prisma_migrations', 'a'], '002 left nothing behind and 003 never ran')
    t.match(await recorded(session), [
      { migration_name: '001_a', finished: true },
      { migration_name: '002_b', finished: false, rolled_back: false, logs: /no_such_table/, applied_steps_count: 0 },
    ])
    t.equal((await recorded(session)).length, 2)

    // Fixing the file is not enough: the failure stays on record until someone marks it resolved.
    await writeMigrations(dir, { '002_b': 'CREATE TABLE b (id int);' })
    const again = await migrate(session, dir).catch((error: unknown) => error)
    t.type(again, MigrationError)
    t.match(again, { migration: '002_b', message: /002_b failed earlier.*rolled-back/s })
    t.same(await tables(session), ['_prisma_migrations', 'a'])

    await session.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = '002_b'`)
    t.same(await migrate(session, dir), { applied: ['002_b', '003_c'], alreadyApplied: ['001_a'], warnings: [] })
    t.same(await tables(session), ['_prisma_migrations', 'a', 'b', 'c'])
  })

  t.test('warns about migrations changed or removed after they were applied', async t => {
    const session = await (await open(t)).connect()
    const dir = await migrationsDir(t, { '001_a': 'CREATE TABLE a (id int);', '002_b': 'CREATE TABLE b (id int);' })
    await migrate(session, dir)
    await writeMigrations(dir, { '001_a': 'CREATE TABLE a (id bigint);' })
    await rm(join(dir, '002_b'), { recursive: true })
    const result = await migrate(session, dir)
    t.same(result.applied, [])
    t.same(result.alreadyApplied, ['001_a'])
    t.match(result.warnings, [
      /^002_b is applied in the database but missing from /,
      /^001_a was modified after it was applied/,
    ])
    t.equal(result.warnings.length, 2)
  })

  t.test('runs a migration Postgres refuses inside a transaction without one', async t => {
    const session = await (await open(t)).connect()
    const dir = await migrationsDir(t, {
      '001_a': 'CREATE TABLE a (id int);',
      '002_index': 'CREATE INDEX CONCURRENTLY a_id_idx ON a (id);',
    })
    t.same((await migrate(session, dir)).applied, ['001_a', '002_index'])
    t.same(await session.query("SELECT indexname FROM pg_indexes WHERE tablename = 'a'"), [{ indexname: 'a_id_idx' }])
  })

  if (concurrent) {
    t.test('two concurrent runs apply each migration once', async t => {
      const database = await open(t)
      const [one, two] = [await database.connect(), await database.connect()]
      // A slow first migration keeps the first runner inside the lock while the second arrives.
      const dir = await migrationsDir(t, {
        '001_slow': 'SELECT pg_sleep(0.3);\nCREATE TABLE a (id int);',
        '002_b': 'CREATE TABLE b (id int);',
      })
      const results = await Promise.all([migrate(one, dir), migrate(two, dir)])
      t.same(
        results.map(result => result.applied.length + result.alreadyApplied.length),
        [2, 2],
      )
      t.same(
        results.flatMap(result => result.applied).sort(),
        ['001_slow', '002_b'],
        'each applied by exactly one runner',
      )
      t.same(
        (await recorded(one)).map(row => [row.migration_name, row.finished]),
        [
          ['001_slow', true],
          ['002_b', true],
        ],
      )
      const [lock] = await one.query<{ held: string }>(
        "SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      )
      t.equal(Number(lock!.held), 0, 'the advisory lock is released')
    })
  }
}

t.test('pglite', async t => suite(t, pgliteDatabase, { concurrent: false }))

const urls = postgresUrls()
if (urls !== undefined) t.test('postgres', async t => suite(t, postgresDatabase(urls.owner), { concurrent: true }))
