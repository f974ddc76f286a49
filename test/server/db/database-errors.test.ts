// Which failures count as "the database is unavailable" (503 with Retry-After) rather than a bug (500).
// Most shapes are met for real in the outage drill (test/drills/postgres-outage.test.ts) and the relay
// tests beside this one, but some only in a race: a server shutting down as COMMIT is sent. Here each
// shape is built as node-postgres and Prisma's pg adapter build it, so each keeps its classification.
import pg from 'pg'
import t from 'tap'
import { classifyDatabaseError } from '../../../server/db/database-errors.ts'

/**
 * What @prisma/adapter-pg throws for an error the server sent (convertDriverError), as Prisma rethrows it from COMMIT.
 */
const adapterError = (sqlState: string, message: string): Error =>
  Object.assign(new Error(message), {
    name: 'DriverAdapterError',
    cause: {
      originalCode: sqlState,
      originalMessage: message,
      kind: 'postgres',
      code: sqlState,
      severity: 'FATAL',
      message,
    },
  })

t.test('a COMMIT cut by a server shutting down or restarting is unavailable', async t => {
  t.strictSame(classifyDatabaseError(adapterError('57P01', 'terminating connection due to administrator command')), {
    kind: 'unavailable',
  })
  t.strictSame(classifyDatabaseError(adapterError('57P03', 'the database system is shutting down')), {
    kind: 'unavailable',
  })
  t.strictSame(classifyDatabaseError(adapterError('08006', 'connection failure')), { kind: 'unavailable' })
  t.strictSame(classifyDatabaseError(adapterError('53300', 'too many connections')), { kind: 'unavailable' })
})

t.test(
  "a lane's COMMIT cut the same way fails with node-postgres' own error, SQLSTATE in code: unavailable too",
  async t => {
    const pgError = (code: string): Error =>
      Object.assign(new Error('terminating connection due to administrator command'), { code, severity: 'FATAL' })
    for (const state of ['57P01', '57P03', '08006', '53300']) {
      t.strictSame(classifyDatabaseError(pgError(state)), { kind: 'unavailable' }, state)
    }
    for (const state of ['42501', '23505', '40001', '57014']) {
      t.strictSame(classifyDatabaseError(pgError(state)), { kind: 'other' }, state)
    }
  },
)

t.test('other SQLSTATEs in the same shape are not mistaken for an outage', async t => {
  for (const state of ['42501', '23505', '22P02', '57014', '40001']) {
    t.strictSame(classifyDatabaseError(adapterError(state, 'some failure')), { kind: 'other' }, state)
  }
})

t.test("node-postgres's code-less connection errors are unavailable, by their exact message", async t => {
  for (const message of [
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
  ]) {
    t.strictSame(classifyDatabaseError(new Error(message)), { kind: 'unavailable' }, message)
  }
  const ended = new pg.Pool()
  await ended.end()
  const error = await ended.query('SELECT 1').catch((caught: unknown) => caught)
  t.strictSame(
    classifyDatabaseError(error),
    { kind: 'unavailable' },
    'a query on a pool that was closed (the app shutting down)',
  )

  t.strictSame(
    classifyDatabaseError(new Error('Connection terminated unexpectedly, said the mock')),
    { kind: 'other' },
    'not a mere prefix',
  )
  t.strictSame(
    classifyDatabaseError(Object.assign(new Error('Connection terminated'), { code: 'ERR_SOMETHING_ELSE' })),
    { kind: 'other' },
    'nor an error that has a code of its own',
  )
  t.strictSame(classifyDatabaseError(new Error('boom')), { kind: 'other' })
})
