// Liveness and readiness: /health answers while the process runs; /ready says whether the database answers,
// and when it does not, says so quickly as a 503 problem with Retry-After instead of hanging the probe.
import { createServer, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../../server/app.ts'
import { loadServerConfig, type DatabaseConfig } from '../../../server/config.ts'
import { openDatabase } from '../../../server/plugins/database.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'

async function appOnPostgres(t: Test, url: string): Promise<FastifyInstance> {
  const database: DatabaseConfig = {
    kind: 'postgres',
    url,
    poolMax: 2,
    connectTimeoutMs: 300,
    statementTimeoutMs: 1000,
  }
  const app = await buildApp({ ...loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET }), database })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

async function expectUnavailable(t: Test, app: FastifyInstance): Promise<void> {
  const started = Date.now()
  const ready = await app.inject({ method: 'GET', url: '/ready', headers: { 'x-request-id': 'probe-1' } })
  t.comment(`/ready answered in ${Date.now() - started} ms`)
  // A generous bound: the point is that the probe is answered, not left to the orchestrator's own timeout.
  t.ok(Date.now() - started < 15_000, 'answers instead of hanging')
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.match(ready.headers['content-type'], /^application\/problem\+json/)
  const problem = ready.json()
  t.match(problem, {
    type: 'urn:gatehouse:problem:database-unavailable',
    status: 503,
    code: 'GH_DATABASE_UNAVAILABLE',
    instance: '/ready',
    requestId: 'probe-1',
  })
  t.notMatch(JSON.stringify(problem), /ECONNREFUSED|127\.0\.0\.1|timeout|closed/i, 'the driver error stays in the logs')

  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, 'liveness does not depend on the database: restarting would not bring it back')
  t.strictSame(health.json(), { status: 'ok' })
}

forEachBackend(t, async (t, backend) => {
  t.test('both answer 200 without any identity while the database is up', async t => {
    const app = await buildTestApp(t, backend)
    const health = await app.inject({ method: 'GET', url: '/health' })
    t.equal(health.statusCode, 200)
    t.strictSame(health.json(), { status: 'ok' })
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(ready.statusCode, 200)
    t.strictSame(ready.json(), { status: 'ok', database: backend.name })
  })
})

t.test(
  'once the instance is shutting down (main.ts drains first), /ready is 503 shutting-down while every request is still served, closing its connection',
  async t => {
    const database = await openDatabase({ kind: 'pglite', dataDir: undefined, seedDemoData: false })
    // The app does not own a database handed to it: left open, it kept the test process alive ~10 s longer.
    t.teardown(() => database.close())
    const app = await buildApp(loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET }), { database })
    t.teardown(() => app.close())
    await app.ready()
    const before = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(before.statusCode, 200)
    t.not(before.headers.connection, 'close', 'connections are kept alive before')

    app.lifecycle.shuttingDown = true
    const ready = await app.inject({ method: 'GET', url: '/ready', headers: { 'x-request-id': 'probe-drain' } })
    t.equal(ready.statusCode, 503, 'balancers are told to stop sending')
    t.match(ready.headers['content-type'], /^application\/problem\+json/)
    t.match(ready.json(), {
      type: 'urn:gatehouse:problem:shutting-down',
      status: 503,
      code: 'GH_SHUTTING_DOWN',
      instance: '/ready',
      requestId: 'probe-drain',
    })
    t.equal(ready.headers.connection, 'close')
    const health = await app.inject({ method: 'GET', url: '/health' })
    t.equal(health.statusCode, 200, 'yet requests are served')
    t.equal(health.headers.connection, 'close', 'and their client is told to reconnect (elsewhere)')
  },
)

t.test('/ready is 503 when the embedded database has gone away', async t => {
  const database = await openDatabase({ kind: 'pglite', dataDir: undefined, seedDemoData: false })
  const app = await buildApp(loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET }), { database })
  t.teardown(() => app.close())
  await app.ready()
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  await database.close()
  await expectUnavailable(t, app)
})

t.test('/ready is 503 when nothing listens on the Postgres port', async t => {
  const app = await appOnPostgres(t, 'postgresql://gatehouse_app@127.0.0.1:1/gatehouse')
  await expectUnavailable(t, app)
})

t.test('/ready is 503 within the connect timeout when the Postgres host accepts but never answers', async t => {
  // A black hole: the TCP handshake succeeds, the server never speaks (a hung or firewalled database).
  const sockets = new Set<Socket>()
  const silent = createServer(socket => {
    sockets.add(socket)
  })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise(resolve => silent.close(resolve))
  })
  const { port } = silent.address() as { port: number }
  const app = await appOnPostgres(t, `postgresql://gatehouse_app@127.0.0.1:${port}/gatehouse`)
  await expectUnavailable(t, app)
  t.ok(sockets.size > 0, 'the probe did reach the silent server')
})
