// The embedded default is what every newcomer runs first: it must come up migrated, keep its data across
// restarts, refuse to be opened twice (two writers corrupt a PGlite folder), and seed the demo tenants once.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import {
  APP_ROLE,
  EmbeddedDatabaseBusyError,
  openEmbedded,
  type EmbeddedDatabase,
} from '../../../server/db/embedded.ts'
import { readMigrations } from '../../../server/db/migrate.ts'
import { createTenant, seedDemoData } from '../../../server/db/seed.ts'
import { pgliteSession } from '../../../server/db/sql-session.ts'

const EMBEDDED_MODULE = new URL('../../../server/db/embedded.ts', import.meta.url).href

async function tempDataDir(t: Test): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'gatehouse-embedded-'))
  t.teardown(() => rm(parent, { recursive: true, force: true }))
  return join(parent, 'pglite')
}

async function open(t: Test, dataDir: string, options?: Parameters<typeof openEmbedded>[1]): Promise<EmbeddedDatabase> {
  const embedded = await openEmbedded(dataDir, options)
  let closed = false
  t.teardown(async () => {
    if (!closed) await embedded.close()
  })
  return {
    db: embedded.db,
    close: async () => {
      closed = true
      await embedded.close()
    },
  }
}

const one = async <Row>(embedded: EmbeddedDatabase, sql: string, params: unknown[] = []): Promise<Row> =>
  (await embedded.db.query<Row>(sql, params)).rows[0]!

/** As the owner for a moment: the app role may not read the migrations table. */
async function asOwner<Row>(embedded: EmbeddedDatabase, sql: string): Promise<Row> {
  await embedded.db.exec('RESET ROLE')
  try {
    return await one<Row>(embedded, sql)
  } finally {
    await embedded.db.exec(`SET ROLE ${APP_ROLE}`)
  }
}

t.test('a new data folder is migrated on open, and the session is the app role under RLS', async t => {
  const dataDir = await tempDataDir(t)
  const embedded = await open(t, dataDir)
  const migrations = await readMigrations()
  await t.rejects(
    embedded.db.query('SELECT * FROM "_prisma_migrations"'),
    { code: '42501' },
    'the app role cannot even read the bookkeeping',
  )
  const { names } = await asOwner<{ names: string[] }>(
    embedded,
    'SELECT array_agg(migration_name::text ORDER BY migration_name) AS names FROM "_prisma_migrations" WHERE finished_at IS NOT NULL',
  )
  t.same(
    names,
    migrations.map(migration => migration.name),
  )
  t.same(await one(embedded, 'SELECT current_user::text AS role'), { role: APP_ROLE })
  // The app role may not write tenants: proof the role switch really happened, not only its name.
  await t.rejects(embedded.db.query("INSERT INTO tenants (id, slug, name) VALUES (gen_random_uuid(), 'x', 'X')"), {
    code: '42501',
  })
  t.ok(existsSync(`${dataDir}.pid`), 'the pid file is written beside the folder')
  t.equal((await readFile(`${dataDir}.pid`, 'utf8')).trim(), String(process.pid))
  await embedded.close()
  t.notOk(existsSync(`${dataDir}.pid`), 'and removed on close')
})

t.test('reopening keeps the data and applies nothing twice', async t => {
  const dataDir = await tempDataDir(t)
  const first = await open(t, dataDir, { asAppRole: false })
  const tenantId = await createTenant(
    {
      query: async (sql, params) => (await first.db.query(sql, params)).rows as never,
      exec: async sql => {
        await first.db.exec(sql)
      },
    },
    { slug: 'persisted', name: 'Persisted Ltd', plan: 'pro' },
  )
  await first.db.query("SELECT set_config('app.tenant_id', $1, FALSE)", [tenantId])
  await first.db.query(
    "INSERT INTO projects (id, tenant_id, name, updated_at) VALUES (gen_random_uuid(), $1, 'Kept', now())",
    [tenantId],
  )
  await first.close()

  const second = await open(t, dataDir)
  t.same(
    await asOwner(second, 'SELECT count(*)::int AS n FROM "_prisma_migrations"'),
    { n: (await readMigrations()).length },
    'no migration recorded twice',
  )
  t.same(await one(second, 'SELECT id::text, name, plan::text FROM tenants WHERE slug = $1', ['persisted']), {
    id: tenantId,
    name: 'Persisted Ltd',
    plan: 'pro',
  })
  await second.db.query("SELECT set_config('app.tenant_id', $1, FALSE)", [tenantId])
  t.same((await second.db.query('SELECT name FROM projects')).rows, [{ name: 'Kept' }])
})

t.test(
  'a new folder and a reopened one start with 16 MB of shared buffers, not the 128 MB of postgresql.conf',
  async t => {
    const dataDir = await tempDataDir(t)
    const sharedBuffers = async (embedded: EmbeddedDatabase): Promise<unknown> =>
      (await one<{ shared_buffers: string }>(embedded, 'SHOW shared_buffers')).shared_buffers
    const first = await open(t, dataDir)
    t.equal(await sharedBuffers(first), '16MB', 'made from the migrated snapshot')
    await first.close()
    t.match(
      await readFile(join(dataDir, 'postgresql.conf'), 'utf8'),
      /^shared_buffers = 128MB/m,
      "initdb's setting stays",
    )
    const reopened = await open(t, dataDir)
    t.equal(await sharedBuffers(reopened), '16MB', 'an existing folder')
    const inMemory = await openEmbedded(undefined, { migrate: false, asAppRole: false })
    t.teardown(() => inMemory.close())
    t.equal(await sharedBuffers(inMemory), '16MB', 'in memory, from the initdb snapshot')
  },
)

t.test('a second process cannot open a folder that is in use', async t => {
  const dataDir = await tempDataDir(t)
  // A real second process holds the database open, as `npm run dev` would.
  // Plain node, no wrapper that forks: the pid is the process that opens the folder.
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '--eval',
      `const { openEmbedded } = await import(${JSON.stringify(EMBEDDED_MODULE)}); await openEmbedded(${JSON.stringify(dataDir)});` +
        // Reading stdin keeps it running, and its end (this test process gone) ends it: no orphan survives a crash.
        "process.stdout.write('open\\n'); process.stdin.on('end', () => process.exit(0)).resume()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    if (holder.exitCode === null) holder.kill('SIGKILL')
  })
  const started = await Promise.race([
    once(holder.stdout, 'data').then(([chunk]) => String(chunk).trim()),
    once(holder, 'exit').then(() => 'exited'),
  ])
  t.equal(started, 'open', 'the other process has the database open')

  const error = await openEmbedded(dataDir).then(
    () => undefined,
    (error: unknown) => error,
  )
  t.type(error, EmbeddedDatabaseBusyError)
  t.match(
    (error as Error).message,
    new RegExp(`${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is open in process ${holder.pid}.*stop that process`),
  )
  t.equal((await readFile(`${dataDir}.pid`, 'utf8')).trim(), String(holder.pid), "the holder's pid file is left alone")

  // A holder that died without cleaning up leaves a stale pid file, which must not lock the folder forever.
  holder.kill('SIGKILL')
  await once(holder, 'exit')
  t.ok(existsSync(`${dataDir}.pid`))
  const embedded = await open(t, dataDir)
  t.same(await one(embedded, 'SELECT count(*)::int AS n FROM tenants'), { n: 0 })
})

t.test('the same folder cannot be opened twice in one process either', async t => {
  const dataDir = await tempDataDir(t)
  await open(t, dataDir)
  await t.rejects(openEmbedded(dataDir), { name: 'EmbeddedDatabaseBusyError', message: /already open in this process/ })
  await t.rejects(openEmbedded(join(dataDir, '..', 'pglite')), EmbeddedDatabaseBusyError, 'however the path is spelled')
})

t.test('a pid file that names no process does not lock the folder', async t => {
  for (const content of ['', 'garbage', '0', '-1']) {
    const dataDir = await tempDataDir(t)
    await writeFile(`${dataDir}.pid`, content)
    const embedded = await open(t, dataDir)
    t.equal(
      (await readFile(`${dataDir}.pid`, 'utf8')).trim(),
      String(process.pid),
      `pid file ${JSON.stringify(content)} replaced`,
    )
    await embedded.close()
  }
})

t.test('the demo seed creates acme and globex once', async t => {
  const dataDir = await tempDataDir(t)
  const demo = async (embedded: EmbeddedDatabase) => {
    const tenants = (
      await embedded.db.query<{ id: string; slug: string; plan: string }>(
        'SELECT id::text, slug, plan::text FROM tenants ORDER BY slug',
      )
    ).rows
    const counts: Record<string, { projects: number; tasks: number }> = {}
    for (const tenant of tenants) {
      await embedded.db.query("SELECT set_config('app.tenant_id', $1, FALSE)", [tenant.id])
      counts[tenant.slug] = await one(
        embedded,
        'SELECT (SELECT count(*)::int FROM projects) AS projects, (SELECT count(*)::int FROM tasks) AS tasks',
      )
    }
    return { tenants: tenants.map(({ slug, plan }) => ({ slug, plan })), counts }
  }
  const first = await open(t, dataDir, { seed: true })
  const seeded = await demo(first)
  // server/db/seed.ts: acme (pro) has two projects with 3 + 1 tasks, globex (free) one project with 2.
  t.same(seeded, {
    tenants: [
      { slug: 'acme', plan: 'pro' },
      { slug: 'globex', plan: 'free' },
    ],
    counts: { acme: { projects: 2, tasks: 4 }, globex: { projects: 1, tasks: 2 } },
  })
  await first.close()
  const second = await open(t, dataDir, { seed: true })
  t.same(await demo(second), seeded, 'seeding again changes nothing')
})

t.test('an interrupted seed leaves no half-made demo tenant behind', async t => {
  const embedded = await openEmbedded(undefined, { asAppRole: false })
  t.teardown(() => embedded.close())
  const session = pgliteSession(embedded.db)
  let inserts = 0
  const failing = {
    ...session,
    async query<Row>(sql: string, params?: unknown[]): Promise<Row[]> {
      if (sql.startsWith('INSERT INTO tasks') && ++inserts === 2) throw new Error('connection lost')
      return session.query<Row>(sql, params)
    },
  }
  await t.rejects(seedDemoData(failing), /connection lost/)
  t.same((await embedded.db.query('SELECT slug FROM tenants')).rows, [], 'acme was rolled back with its data')
  t.same(await seedDemoData(session), ['acme', 'globex'], 'so the next run creates it in full')
  // The session is the (superuser) owner here, so it filters by hand.
  t.same(
    await one(
      embedded,
      "SELECT count(*)::int AS n FROM tasks WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'acme')",
    ),
    { n: 4 },
  )
})
