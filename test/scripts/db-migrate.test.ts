// npm run db:migrate: applies the project's migrations as the owner, says what it did, and is idempotent.
import t from 'tap'
import { readMigrations } from '../../server/db/migrate.ts'
import { forEachTarget, runScript } from './run-script.ts'

forEachTarget(t, async (t, target) => {
  t.test('applies every migration once, then nothing', async t => {
    const names = (await readMigrations()).map(migration => migration.name)
    const first = await runScript('db-migrate', [], target.env)
    t.equal(first.code, 0, first.stderr)
    t.equal(first.stderr, '', 'no warnings')
    const lines = first.stdout.trim().split('\n')
    t.same(
      lines.slice(0, -1),
      names.map(name => `applied ${name}`),
    )
    t.match(lines.at(-1), new RegExp(`: ${names.length} applied, 0 already applied$`))
    // The target names the database without any password.
    t.match(
      lines.at(-1),
      target.name === 'pglite'
        ? /^embedded database in .*pglite:/
        : /^postgres postgres@127\.0\.0\.1:5432\/gatehouse_scripts_/,
    )

    const second = await runScript('db-migrate', [], target.env)
    t.equal(second.code, 0, second.stderr)
    t.match(second.stdout, new RegExp(`^[^\\n]*: 0 applied, ${names.length} already applied\\n$`))
    const recorded = await target.query<{ migration_name: string }>(
      'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name',
    )
    t.same(
      recorded.map(row => row.migration_name),
      names,
      'recorded once each',
    )
  })
})

t.test('an unreachable server is a clear failure, not a hang', async t => {
  const result = await runScript('db-migrate', [], { DATABASE_OWNER_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' })
  t.equal(result.code, 1)
  t.match(result.stderr, /^db:migrate: .*ECONNREFUSED/)
})
