// npm run db:backup / db:restore: real data through the real CLIs into a new database loses nothing (every row of
// every table, the schema and the policies compare equal), the app role is still isolated by RLS afterwards, and a
// damaged dump, a non-empty target, a failing pg_dump and the embedded database are refused with clear messages.
import { createHash, randomUUID } from 'node:crypto'
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { migrate, readMigrations } from '../../server/db/migrate.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgSession } from '../../server/db/sql-session.ts'
import { postgresUrls } from '../helpers/backends.ts'
import { queryPostgres, runScript, throwawayDatabase } from './run-script.ts'

const tempDir = async (t: Test): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-backup-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('on the embedded database both commands say they need a Postgres server and exit 78', async t => {
  const dataDir = await tempDir(t)
  const outDir = join(dataDir, 'out')
  const backup = await runScript('db-backup', ['--out-dir', outDir], { DATA_DIR: dataDir })
  t.equal(backup.code, 78)
  t.match(
    backup.stderr,
    /^db:backup: Invalid configuration:\n {2}- DATABASE_OWNER_URL: db:backup needs a Postgres server .*copy the DATA_DIR\/pglite folder/,
  )
  await t.rejects(stat(outDir), { code: 'ENOENT' }, 'nothing written')
  const restore = await runScript('db-restore', [join(dataDir, 'x.manifest.json')], { DATA_DIR: dataDir })
  t.equal(restore.code, 78)
  t.match(restore.stderr, /DATABASE_OWNER_URL: db:restore needs a Postgres server/)
})

t.test('bad arguments exit 64 before anything is opened', async t => {
  const env = { DATABASE_OWNER_URL: 'postgresql://nobody@127.0.0.1:1/none' }
  const cases: Array<[string, string[], RegExp]> = [
    ['db-backup', ['--out-dir', ''], /--out-dir must not be empty/],
    ['db-backup', ['--bogus'], /Unknown option '--bogus'[\s\S]*usage: npm run db:backup/],
    ['db-restore', [], /^db:restore: usage: npm run db:restore -- <backup.manifest.json> \[--force\]\n$/],
    ['db-restore', ['backup.dump'], /give the backup's manifest/],
  ]
  const results = await Promise.all(cases.map(([script, args]) => runScript(script, args, env)))
  cases.forEach(([script, args, message], index) => {
    t.equal(results[index]!.code, 64, `${script} ${JSON.stringify(args)}`)
    t.match(results[index]!.stderr, message)
  })
})

const urls = postgresUrls()
if (urls !== undefined) {
  t.test('postgres', async t => {
    const source = await throwawayDatabase(t, urls.owner)
    const tenants = await fillSource(source)
    const outDir = await tempDir(t)

    const backedUp = await runScript('db-backup', ['--out-dir', outDir], { DATABASE_OWNER_URL: source })
    t.equal(backedUp.code, 0, backedUp.stderr)
    const manifestPath = /^manifest: (.+)$/m.exec(backedUp.stdout)?.[1] ?? ''
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'))
    const dumpPath = join(outDir, manifest.dump.file)

    t.test('the manifest describes the dump and the database it came from', async t => {
      const dump = await readFile(dumpPath)
      t.equal(manifest.dump.sha256, createHash('sha256').update(dump).digest('hex'))
      t.equal(manifest.dump.bytes, dump.length)
      t.equal(dump.subarray(0, 5).toString(), 'PGDMP', 'pg_dump custom format')
      t.equal((await stat(dumpPath)).mode & 0o777, 0o600, 'only the owner may read a dump of every tenant')
      t.equal(manifest.database, new URL(source).pathname.slice(1))
      t.same(
        manifest.migrations,
        (await readMigrations()).map(migration => migration.name),
      )
      // fillSource: 2 tenants, 2 projects each, 3 + 4 tasks, no domains; the two migrations.
      t.same(manifest.tables, {
        'public._prisma_migrations': 2,
        'public.projects': 4,
        'public.tasks': 7,
        'public.tenant_domains': 0,
        'public.tenants': 2,
      })
      t.same(
        manifest.rowSecurity,
        ['projects', 'tasks', 'tenant_domains'].map(table => ({
          table: `public.${table}`,
          enabled: true,
          forced: true,
          policies: ['tenant_isolation'],
        })),
      )
      t.match(manifest.serverVersion, /^\d+\.\d+/)
      t.same(await readdir(outDir), [basename(dumpPath), basename(manifestPath)].sort(), 'no partial files left')
    })

    const target = await throwawayDatabase(t, urls.owner)
    const restored = await runScript('db-restore', [manifestPath], { DATABASE_OWNER_URL: target })
    t.equal(restored.code, 0, restored.stderr)
    t.match(
      restored.stdout,
      /restored .* into gatehouse_scripts_\w+: 5 tables, 15 rows; counts, migrations, row-level security and gatehouse_app's privileges verified\n/,
    )
    t.match(restored.stdout, /^times: checksum [\d.]+ s, pg_restore [\d.]+ s, analyze [\d.]+ s, verify [\d.]+ s$/m)

    t.test('every row of every table, the schema and the policies are as they were', async t => {
      t.same(await contents(target), await contents(source))
    })

    t.test('the app role can connect to the restored database and RLS still isolates tenants', async t => {
      const appUrl = new URL(urls.app)
      appUrl.pathname = new URL(target).pathname
      const app = new pg.Client({ connectionString: appUrl.toString() })
      await app.connect()
      t.teardown(() => app.end())
      const ids = async (table: string): Promise<string[]> =>
        (await app.query(`SELECT id::text FROM ${table} ORDER BY id`)).rows.map((row: { id: string }) => row.id)
      t.same(await ids('projects'), [], 'no tenant set: no projects')
      t.same(await ids('tasks'), [], 'no tenant set: no tasks')
      for (const [mine, other] of [
        [tenants[0]!, tenants[1]!],
        [tenants[1]!, tenants[0]!],
      ] as const) {
        await app.query('BEGIN')
        await app.query("SELECT set_config('app.tenant_id', $1, TRUE)", [mine.id])
        t.same(await ids('projects'), mine.projects, 'only its own projects')
        t.same(await ids('tasks'), mine.tasks, 'only its own tasks')
        t.equal((await app.query("UPDATE tasks SET title = 'stolen' WHERE tenant_id = $1", [other.id])).rowCount, 0)
        await t.rejects(
          app.query('INSERT INTO projects (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
            randomUUID(),
            other.id,
            'planted',
          ]),
          { code: '42501' },
          'cannot write into another tenant',
        )
        await app.query('ROLLBACK')
      }
      await t.rejects(app.query('DELETE FROM tenants'), { code: '42501' }, 'tenants stay read-only to the app')
    })

    t.test('a damaged dump is refused before the target is touched', async t => {
      const copy = await tempDir(t)
      await copyFile(manifestPath, join(copy, basename(manifestPath)))
      const damaged = Buffer.from(await readFile(dumpPath))
      const middle = Math.floor(damaged.length / 2)
      damaged.writeUInt8(damaged.readUInt8(middle) ^ 0xff, middle)
      await writeFile(join(copy, manifest.dump.file), damaged)
      const empty = await throwawayDatabase(t, urls.owner)
      const result = await runScript('db-restore', [join(copy, basename(manifestPath))], { DATABASE_OWNER_URL: empty })
      t.equal(result.code, 1)
      t.match(
        result.stderr,
        /^db:restore: refusing to restore: .* does not match its manifest \(sha256 [0-9a-f]{64}, \d+ bytes; the manifest says/,
      )
      t.same(
        await queryPostgres(empty, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"),
        [],
        'still an empty database',
      )
    })

    t.test('a non-empty database is refused unless --force, which brings back the backup', async t => {
      const before = await contents(target)
      const refused = await runScript('db-restore', [manifestPath], { DATABASE_OWNER_URL: target })
      t.equal(refused.code, 64)
      t.match(
        refused.stderr,
        /^db:restore: database gatehouse_scripts_\w+ is not empty \(\d+ objects, e\.g\. public\._prisma_migrations.*--force.*; nothing changed\n$/,
      )
      t.same(await contents(target), before)

      // What an operator error leaves behind: one tenant's tasks gone, a stray tenant added.
      await queryPostgres(target, 'DELETE FROM tasks WHERE tenant_id = $1', [tenants[1]!.id])
      await queryPostgres(target, "INSERT INTO tenants (id, slug, name) VALUES ($1, 'stray', 'Stray')", [randomUUID()])
      const forced = await runScript('db-restore', [manifestPath, '--force'], { DATABASE_OWNER_URL: target })
      t.equal(forced.code, 0, forced.stderr)
      t.match(forced.stdout, /^--force: replaced the backup's objects in a database that held \d+$/m)
      t.same(await contents(target), await contents(source))
    })

    t.test('a manifest that is not one is refused', async t => {
      const dir = await tempDir(t)
      await writeFile(
        join(dir, 'x.manifest.json'),
        JSON.stringify({ ...manifest, dump: { ...manifest.dump, file: '../etc/passwd' } }),
      )
      const result = await runScript('db-restore', [join(dir, 'x.manifest.json')], { DATABASE_OWNER_URL: target })
      t.equal(result.code, 1)
      t.match(result.stderr, /x\.manifest\.json is not a gatehouse backup manifest \(\/dump\/file/)
    })

    t.test('a failing pg_dump exits non-zero with its message and leaves no dump or manifest', async t => {
      const bin = await tempDir(t)
      // Answers --version like the real one, then fails the way pg_dump does on a lock timeout.
      await writeFile(
        join(bin, 'pg_dump'),
        '#!/bin/sh\n[ "$1" = --version ] && { echo "pg_dump (PostgreSQL) 15"; exit 0; }\n' +
          'echo "pg_dump: error: query failed: ERROR:  canceling statement due to lock timeout" >&2\nexit 1\n',
      )
      await chmod(join(bin, 'pg_dump'), 0o755)
      const out = await tempDir(t)
      const failed = await runScript('db-backup', ['--out-dir', out], { DATABASE_OWNER_URL: source, PG_BIN_DIR: bin })
      t.equal(failed.code, 1)
      t.equal(
        failed.stderr,
        'db:backup: pg_dump failed (exit 1): pg_dump: error: query failed: ERROR:  canceling statement due to lock timeout\n',
      )
      t.same(await readdir(out), [])

      const missing = await runScript('db-backup', ['--out-dir', out], {
        DATABASE_OWNER_URL: source,
        PG_BIN_DIR: join(bin, 'nowhere'),
      })
      t.equal(missing.code, 1)
      t.match(
        missing.stderr,
        /pg_dump not found: install the PostgreSQL client tools \(postgresql-client\) or set PG_BIN_DIR/,
      )
    })
  })
}

interface SourceTenant {
  id: string
  projects: string[]
  tasks: string[]
}

/** Migrates the database and writes two tenants' projects and tasks, with the awkward values a dump must carry. */
async function fillSource(url: string): Promise<SourceTenant[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const session = pgSession(client)
    await migrate(session)
    const made: SourceTenant[] = []
    for (const [index, taskCounts] of [
      [1, 2],
      [3, 1],
    ].entries()) {
      const id = await createTenant(session, {
        slug: `backup-${index}`,
        name: `Tenant ${index}`,
        plan: index === 0 ? 'pro' : 'free',
      })
      const tenant: SourceTenant = { id, projects: [], tasks: [] }
      await session.exec('BEGIN')
      await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [id])
      for (const [p, count] of taskCounts!.entries()) {
        const projectId = randomUUID()
        await session.query(
          'INSERT INTO projects (id, tenant_id, name, description, updated_at) VALUES ($1, $2, $3, $4, now())',
          [
            projectId,
            id,
            `Projekt ${p} – Übersicht "q" 'é' 🚀`,
            p === 0 ? null : 'line one\nline two\ttabbed \\ backslash',
          ],
        )
        tenant.projects.push(projectId)
        for (let k = 0; k < count; k++) {
          const taskId = randomUUID()
          await session.query(
            'INSERT INTO tasks (id, tenant_id, project_id, title, status, priority, due_date, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now())',
            [
              taskId,
              id,
              projectId,
              `Task ${k}`,
              ['todo', 'in_progress', 'done'][k % 3],
              k % 5,
              k % 2 === 0 ? null : '2027-02-28',
            ],
          )
          tenant.tasks.push(taskId)
        }
      }
      await session.exec('COMMIT')
      made.push({ ...tenant, projects: tenant.projects.sort(), tasks: tenant.tasks.sort() })
    }
    return made
  } finally {
    await client.end()
  }
}

/** Every row of every user table (as the superuser owner, which RLS does not filter), plus the schema that matters. */
async function contents(url: string): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {}
  const tables = await queryPostgres<{ name: string }>(
    url,
    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
  )
  for (const { name } of tables) {
    result[`rows of ${name}`] = (
      await queryPostgres<{ row: string }>(url, `SELECT to_jsonb(x)::text AS row FROM ${name} x ORDER BY 1`)
    ).map(r => r.row)
  }
  const schema = {
    indexes: "SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public'",
    constraints:
      "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    policies:
      "SELECT tablename || ' ' || policyname || ' ' || array_to_string(roles, ',') || ' ' || cmd || ' ' || qual || ' ' || with_check AS def FROM pg_policies",
    rls: "SELECT relname || ' ' || relrowsecurity || ' ' || relforcerowsecurity AS def FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    grants:
      "SELECT table_name || ' ' || grantee || ' ' || privilege_type AS def FROM information_schema.role_table_grants WHERE grantee = 'gatehouse_app'",
    types:
      "SELECT t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS def FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname",
  }
  for (const [key, sql] of Object.entries(schema)) {
    result[key] = (await queryPostgres<{ def: string }>(url, `SELECT def FROM (${sql}) s ORDER BY 1`)).map(r => r.def)
  }
  return result
}
