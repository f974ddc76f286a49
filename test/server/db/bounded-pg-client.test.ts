// A Postgres that stops answering (hung host, stalled network: sockets open, nothing comes back) must not
// hang the API. Through a relay that can be paused in front of the real server, each way the API talks to
// the database is cut while a connection is open: a query on an idle pooled connection, a query in the
// middle of a transaction, a new connection. Each fails within its bound as "unavailable" (a 503), and once
// the network is back the pool serves again from fresh connections: the stuck ones were thrown away.
import t, { type Test } from 'tap'
import { classifyDatabaseError } from '../../../server/db/database-errors.ts'
import { openDatabase } from '../../../server/plugins/database.ts'
import { postgresUrls } from '../../helpers/backends.ts'
import { relayPostgres } from '../../helpers/faulty-relay.ts'

const STATEMENT_TIMEOUT_MS = 500
const CONNECT_TIMEOUT_MS = 1000
// Far beyond the bounds under test (statement timeout + 2 s, connect timeout), so a slow machine passes
// and a query that waits for the network to come back does not.
const HUNG_AFTER_MS = 15_000

type Settled = { outcome: 'resolved' } | { outcome: 'rejected'; error: unknown } | { outcome: 'hung' }

async function settleWithin(work: Promise<unknown>): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<Settled>(resolve => {
    timer = setTimeout(() => resolve({ outcome: 'hung' }), HUNG_AFTER_MS)
  })
  const settled = work.then(
    (): Settled => ({ outcome: 'resolved' }),
    (error: unknown): Settled => ({ outcome: 'rejected', error }),
  )
  try {
    return await Promise.race([settled, hung])
  } finally {
    clearTimeout(timer)
  }
}

const urls = postgresUrls()

t.test(
  'queries on a database that stopped answering fail as unavailable within their bound, and the pool recovers',
  {
    skip: urls === undefined ? 'needs DATABASE_URL and DATABASE_OWNER_URL (real Postgres)' : false,
  },
  async t => {
    const { relay, url: through } = await relayPostgres(t, urls!.app)
    const database = await openDatabase({
      kind: 'postgres',
      url: through,
      poolMax: 2,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    })
    // Resumed first (teardowns run last-in first-out), so nothing waits on the relay while closing.
    t.teardown(() => database.close())
    t.teardown(() => relay.resume())
    const prisma = database.prisma

    const expectUnavailable = async (t: Test, what: string, work: Promise<unknown>): Promise<void> => {
      const started = Date.now()
      const settled = await settleWithin(work)
      t.comment(`${what}: ${settled.outcome} after ${Date.now() - started} ms`)
      t.equal(settled.outcome, 'rejected', `${what}: fails instead of waiting for the network`)
      if (settled.outcome === 'rejected') {
        t.strictSame(classifyDatabaseError(settled.error), { kind: 'unavailable' }, `${what}: as unavailable (503)`)
      }
    }

    t.test('a query on an idle pooled connection', async t => {
      await prisma.$queryRaw`SELECT 1`
      t.ok(database.poolUsage().idle >= 1, 'a connection waits in the pool')
      relay.pause()
      await expectUnavailable(t, 'SELECT on the idle connection', prisma.$queryRaw`SELECT 1`)
      relay.resume()
      await t.resolves(prisma.$queryRaw`SELECT 1`, 'the next query is served')
    })

    t.test('a query in the middle of a transaction', async t => {
      await expectUnavailable(
        t,
        'the second statement of a transaction',
        prisma.$transaction(
          async tx => {
            await tx.$queryRaw`SELECT 1`
            relay.pause()
            await tx.$queryRaw`SELECT 2`
          },
          { maxWait: 5000, timeout: 10_000 },
        ),
      )
      relay.resume()
      const [row] = await prisma.$queryRaw<Array<{ answer: number }>>`SELECT 42 AS answer`
      t.equal(row?.answer, 42, 'the pool serves again')
    })

    const fresh = await openDatabase({
      kind: 'postgres',
      url: through,
      poolMax: 2,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    })
    t.teardown(() => fresh.close())
    t.test('a new connection', async t => {
      t.equal(fresh.poolUsage().total, 0, 'nothing pooled yet: the query must connect')
      relay.pause()
      await expectUnavailable(t, 'connecting', fresh.prisma.$queryRaw`SELECT 1`)
      relay.resume()
      await t.resolves(fresh.prisma.$queryRaw`SELECT 1`, 'and connects once the network is back')
    })

    t.test('the connections given up on are closed, on the server side too', async t => {
      const pooled = (): number => database.poolUsage().total + fresh.poolUsage().total
      for (let waited = 0; relay.open() !== pooled() && waited < HUNG_AFTER_MS; waited += 50) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      t.equal(relay.open(), pooled(), `the ${relay.open()} connection(s) still open are the pools' own`)
    })
  },
)
