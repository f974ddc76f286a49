// The database plugin: the app's Prisma client carries query metrics and tenant scoping, and the readiness
// ping reports which database the app runs on.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../../../server/app.ts'
import { loadServerConfig } from '../../../server/config.ts'
import { classifyDatabaseError } from '../../../server/db/database-errors.ts'
import { ANSWER_MARGIN_MS } from '../../../server/db/prisma-client.ts'
import { forEachBackend, postgresUrls } from '../../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'

const countOf = (metrics: string, labels: string): number | undefined => {
  const line = metrics
    .split('\n')
    .find(l => l.startsWith('gatehouse_db_query_duration_seconds_count{') && l.includes(labels))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

forEachBackend(t, async (t, backend) => {
  t.test('reports its kind and answers a ping', async t => {
    const app = await buildTestApp(t, backend)
    t.equal(app.database.kind, backend.name)
    await t.resolves(app.database.ping())
  })

  t.test('a failing operation still fails, and is counted with outcome="error"', async t => {
    const app = await buildTestApp(t, backend)
    await t.rejects(app.db.$queryRawUnsafe('SELECT 1/0'), /division by zero/)
    await app.db.$queryRawUnsafe('SELECT 1')
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    t.equal(countOf(metrics, 'model="raw",operation="$queryRawUnsafe",outcome="error"'), 1)
    t.equal(countOf(metrics, 'model="raw",operation="$queryRawUnsafe",outcome="ok"'), 1)
  })

  t.test('$withTenant runs its work with app.tenant_id set, and only there', async t => {
    const app = await buildTestApp(t, backend)
    const tenant = await backend.createTenant()
    const inside = await app.db.$withTenant(
      tenant.id,
      tx => tx.$queryRaw<Array<{ id: string }>>`SELECT current_setting('app.tenant_id', true) AS id`,
    )
    t.equal(inside[0]?.id, tenant.id)
    const outside = await app.db.$queryRaw<
      Array<{ id: string | null }>
    >`SELECT current_setting('app.tenant_id', true) AS id`
    t.ok(outside[0]?.id === null || outside[0]?.id === '', 'the setting is transaction-local')
    const other = await backend.createTenant()
    await backend.asOwner(session =>
      session.query(
        `INSERT INTO projects (id, tenant_id, name, updated_at) VALUES (gen_random_uuid(), $1, 'Mine', now()), (gen_random_uuid(), $2, 'Theirs', now())`,
        [tenant.id, other.id],
      ),
    )
    const visible = await app.db.$withTenant(tenant.id, tx => tx.project.findMany({ select: { name: true } }))
    t.strictSame(
      visible.map(row => row.name),
      ['Mine'],
      "row-level security shows this tenant's rows only",
    )
    t.strictSame(await app.db.project.findMany(), [], 'and without a tenant, nothing')
  })
})

const urls = postgresUrls()

t.test(
  'on Postgres a tenant transaction is bounded by the statement timeout (+ the answer margin), not a fixed 10 s',
  {
    skip: urls === undefined ? 'needs DATABASE_URL and DATABASE_OWNER_URL (real Postgres)' : false,
  },
  async t => {
    // A short statement timeout, so the derived bound is short too: a fixed one would let this work finish.
    const statementTimeoutMs = 500
    const app = await buildApp({
      ...loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET, LOG_LEVEL: 'silent' }),
      database: { kind: 'postgres', url: urls!.app, poolMax: 2, connectTimeoutMs: 2000, statementTimeoutMs },
    })
    t.teardown(() => app.close())
    const boundMs = statementTimeoutMs + ANSWER_MARGIN_MS
    const began = Date.now()
    const error = await app.db
      .$withTenant(randomUUID(), async tx => {
        await tx.$queryRaw`SELECT 1` // the unit of work now holds its connection
        // No statement running: only the transaction's own bound applies.
        await new Promise(resolve => setTimeout(resolve, boundMs + 1000))
        return tx.$queryRaw`SELECT 1`
      })
      .then(
        () => undefined,
        (caught: unknown) => caught,
      )
    t.ok(error !== undefined, `a unit of work held past ${boundMs} ms is ended (after ${Date.now() - began} ms)`)
    t.strictSame(
      classifyDatabaseError(error),
      { kind: 'unavailable' },
      'and answered as "retry later" (503), not as a bug',
    )
    t.strictSame(
      await app.db.$withTenant(randomUUID(), tx => tx.$queryRaw`SELECT 1 AS one`),
      [{ one: 1 }],
      'a unit of work within the bound is served',
    )
  },
)
