// Tenant lanes on real Postgres: how many messages a unit of work costs the connection, that a lane's
// transaction holds or rolls back as a whole, and that a connection always returns to the pool outside one.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import pg from 'pg'
import { migrate } from '../../../server/db/migrate.ts'
import { createTenant } from '../../../server/db/seed.ts'
import { pgSession } from '../../../server/db/sql-session.ts'
import { createPostgresClient } from '../../../server/db/prisma-client.ts'
import { laneTenantScope } from '../../../server/db/tenant-scope.ts'
import { postgresUrls, uniqueSlug } from '../../helpers/backends.ts'

const urls = postgresUrls()

t.test(
  'tenant lanes',
  { skip: urls === undefined ? 'needs DATABASE_URL and DATABASE_OWNER_URL (real Postgres)' : false },
  async t => {
    const owner = new pg.Client({ connectionString: urls!.owner })
    await owner.connect()
    await migrate(pgSession(owner))
    const tenantId = await createTenant(pgSession(owner), { slug: uniqueSlug('lane'), name: 'Lane', plan: 'free' })
    await owner.end()

    const { prisma, pool: lanePool } = createPostgresClient({
      url: urls!.app,
      poolMax: 2,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 10_000,
    })
    t.teardown(async () => {
      await prisma.$disconnect()
      await lanePool.end()
    })
    const db = prisma.$extends(laneTenantScope(lanePool))

    // What each checked-out connection is asked to run, by watching the pool's clients.
    const sent: string[] = []
    lanePool.on('acquire', (client: pg.PoolClient & { __watched?: boolean }) => {
      if (client.__watched === true) return
      client.__watched = true
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((...args: unknown[]) => {
        const first = args[0] as { text?: string; constructor: { name: string } } | string
        sent.push(
          typeof first === 'string'
            ? first
            : first.constructor.name === 'PreludedQuery'
              ? `prelude+${first.text}`
              : (first.text ?? '?'),
        )
        return query(...args)
      }) as typeof client.query
    })
    const idleAndClean = async (t: Test): Promise<void> => {
      const client = await lanePool.checkout()
      try {
        const { rows } = await client.query<{ setting: string | null }>(
          "SELECT current_setting('app.tenant_id', true) AS setting",
        )
        t.notOk(rows[0]?.setting, 'the connection came back with no tenant set and outside a transaction')
      } finally {
        client.release()
      }
    }

    t.test('one operation: its statement carries BEGIN, the tenant and COMMIT in one message', async t => {
      sent.length = 0
      const name = `one-${randomUUID()}`
      const created = await db.$withTenant(tenantId, tx => tx.project.create({ data: { tenantId, name } }))
      t.equal(sent.length, 1, `one query on the connection: ${JSON.stringify(sent)}`)
      t.match(sent[0], /^prelude\+INSERT/)
      const seen = await db.$withTenant(tenantId, tx => tx.project.findMany({ where: { id: created.id } }))
      t.equal(seen[0]?.name, name, 'and it was committed')
      await idleAndClean(t)
    })

    t.test('several statements share one transaction, ended by COMMIT', async t => {
      sent.length = 0
      const name = `many-${randomUUID()}`
      const count = await db.$withTenant(tenantId, async tx => {
        await tx.project.create({ data: { tenantId, name } })
        return tx.project.count({ where: { name } })
      })
      t.equal(count, 1, "the second statement sees the first one's row")
      t.equal(sent.length, 3, JSON.stringify(sent))
      t.match(sent[0], /^prelude\+INSERT/)
      t.equal(sent[2], 'COMMIT')
    })

    t.test('a failure rolls back everything the unit of work did', async t => {
      const name = `rolled-back-${randomUUID()}`
      await t.rejects(
        db.$withTenant(tenantId, async tx => {
          await tx.project.create({ data: { tenantId, name } })
          throw new Error('the handler failed')
        }),
        /the handler failed/,
      )
      t.equal(
        await db.$withTenant(tenantId, tx => tx.project.count({ where: { name } })),
        0,
        'the first statement was rolled back',
      )
      // One failing operation (a row of another tenant refused by the policy): nothing committed, connection clean.
      await t.rejects(db.$withTenant(tenantId, tx => tx.project.create({ data: { tenantId: randomUUID(), name } })))
      await idleAndClean(t)
    })

    t.test('a work that swallows a failed statement is not reported as saved', async t => {
      const name = `swallowed-${randomUUID()}`
      await t.rejects(
        db.$withTenant(tenantId, async tx => {
          await tx.project.create({ data: { tenantId, name } })
          await tx.$queryRaw`SELECT 1/0`.catch(() => undefined)
          return 'done'
        }),
        { name: 'UnitOfWorkFailedError' },
      )
      t.equal(await db.$withTenant(tenantId, tx => tx.project.count({ where: { name } })), 0)
      await idleAndClean(t)
    })

    t.test('an operation object that sends two statements is refused, not split over two transactions', async t => {
      const twoStatements = {
        [Symbol.toStringTag]: 'PrismaPromise',
        then(resolve: (value: unknown) => void, reject: (error: unknown) => void) {
          lanePool
            .query({ text: 'SELECT 1' })
            .then(() => lanePool.query({ text: 'SELECT 2' }))
            .then(resolve, reject)
        },
      }
      await t.rejects(
        db.$withTenant(tenantId, () => twoStatements as unknown as Promise<unknown>),
        { name: 'MoreThanOneStatementError' },
      )
      await idleAndClean(t)
    })
  },
)
