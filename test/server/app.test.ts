// buildApp: what the factory itself decides, whichever entry (server or Lambda) wraps it: request ids,
// which client address is believed, closing cleanly with requests in flight, and owning its database.
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import { loggerOptions } from '../../common/logger.ts'
import { buildApp } from '../../server/app.ts'
import { loadServerConfig } from '../../server/config.ts'
import { forEachBackend, type Backend } from '../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET, testConfig } from '../helpers/build-app.ts'

async function appLoggingTo(t: Test, backend: Backend, env: Record<string, string>) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      }
      done()
    },
  })
  const app = await buildApp(testConfig(backend, env), {
    database: backend.database,
    logger: { ...loggerOptions('api', 'info'), stream },
  })
  t.teardown(() => app.close())
  await app.ready()
  return { app, lines }
}

const remoteAddressOf = (lines: Array<Record<string, unknown>>, reqId: string) =>
  (
    lines.find(line => line.reqId === reqId && line.msg === 'incoming request')?.req as
      { remoteAddress?: string } | undefined
  )?.remoteAddress

forEachBackend(t, async (t, backend) => {
  t.test("every response carries a request id: the caller's if sane, else a fresh one", async t => {
    const app = await buildTestApp(t, backend)
    for (const url of ['/health', '/no/such/route', '/api/v1/projects']) {
      const given = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'lb-0001:a' } })
      t.equal(given.headers['x-request-id'], 'lb-0001:a', `${url} echoes it`)
      const fresh = await app.inject({ method: 'GET', url })
      t.match(
        fresh.headers['x-request-id'],
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        `${url} makes one`,
      )
    }
    const a = await app.inject({ method: 'GET', url: '/health' })
    const b = await app.inject({ method: 'GET', url: '/health' })
    t.not(a.headers['x-request-id'], b.headers['x-request-id'], 'fresh ids are unique')
  })

  // /health logs only warnings; a refused API call logs its request like any other.
  t.test('X-Forwarded-For is believed only from TRUST_PROXY addresses', async t => {
    const trusting = await appLoggingTo(t, backend, { TRUST_PROXY: '127.0.0.1' })
    await trusting.app.inject({
      method: 'GET',
      url: '/api/v1/projects',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'from-proxy' },
    })
    await trusting.app.inject({
      method: 'GET',
      url: '/api/v1/projects',
      remoteAddress: '198.51.100.4',
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'from-elsewhere' },
    })
    t.equal(remoteAddressOf(trusting.lines, 'from-proxy'), '203.0.113.9', "the proxy's word is taken")
    t.equal(remoteAddressOf(trusting.lines, 'from-elsewhere'), '198.51.100.4', "anyone else's is not")

    const unset = await appLoggingTo(t, backend, {})
    await unset.app.inject({
      method: 'GET',
      url: '/api/v1/projects',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'no-trust' },
    })
    t.equal(remoteAddressOf(unset.lines, 'no-trust'), '127.0.0.1', "by default nobody's is")
  })

  t.test('a malformed URL is a 400 problem, not a crash', async t => {
    const app = await buildTestApp(t, backend)
    const response = await app.inject({ method: 'GET', url: '/api/v1/projects/%E0%A4%A' })
    t.equal(response.statusCode, 400)
    t.match(response.headers['content-type'], /^application\/problem\+json/)
    t.match(response.json(), { type: 'urn:gatehouse:problem:bad-url', code: 'FST_ERR_BAD_URL', status: 400 })
  })

  t.test('closing lets a request in flight finish and closes its keep-alive connection', async t => {
    const { app, lines } = await appLoggingTo(t, backend, {})
    let closed = false
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const tenant = await backend.createTenant()

    const body = JSON.stringify({ name: 'Written while closing' })
    const socket = connect(port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    await new Promise<void>(resolve => socket.once('connect', resolve))
    const signed = signIdentity(TEST_IDENTITY_SECRET, {
      tenant: tenant.slug,
      user: 'alice',
      requestId: 'closing-1',
      method: 'POST',
      url: '/api/v1/projects',
      body,
    })
    let received = ''
    socket.on('data', chunk => {
      received += String(chunk)
    })
    const socketClosed = new Promise<void>(resolve => socket.once('close', () => resolve()))
    socket.write(
      [
        'POST /api/v1/projects HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Connection: keep-alive',
        'Content-Type: application/json',
        `Content-Length: ${body.length}`,
        ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`),
      ].join('\r\n') +
        '\r\n\r\n' +
        body.slice(0, 5),
    )
    while (!lines.some(line => line.reqId === 'closing-1' && line.msg === 'incoming request')) {
      await new Promise(resolve => setTimeout(resolve, 10))
    }

    const closing = app.close().then(() => {
      closed = true
    })
    socket.write(body.slice(5))
    await socketClosed
    await closing
    t.match(received, /^HTTP\/1\.1 201 /, 'the request in flight was answered')
    t.match(received, /\r\nconnection: close\r\n/i, 'and told the client the connection ends')
    t.match(received, /"name":"Written while closing"/)
    t.ok(closed, 'close() returned without waiting for the keep-alive timeout')
    const stored = await backend.asOwner(session =>
      session.query<{ name: string }>('SELECT name FROM projects WHERE tenant_id = $1', [tenant.id]),
    )
    t.strictSame(
      stored.map(row => row.name),
      ['Written while closing'],
    )
    const another = await new Promise<string>(resolve => {
      const probe = connect(port, '127.0.0.1')
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
      probe.once('connect', () => {
        probe.destroy()
        resolve('connected')
      })
    })
    t.equal(another, 'ECONNREFUSED', 'and the port takes no new connections')
  })

  t.test('an app handed a shared database leaves it open when it closes', async t => {
    const app = await buildApp(testConfig(backend), { database: backend.database })
    await app.ready()
    await app.close()
    const other = await buildTestApp(t, backend)
    t.equal((await other.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
  })
})

t.test('an app that opened its embedded database closes it and releases the folder', async t => {
  const dataDir = t.testdir()
  const config = loadServerConfig({ DATA_DIR: dataDir, IDENTITY_SECRET: TEST_IDENTITY_SECRET })
  const app = await buildApp(config)
  await app.ready()
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).json().database, 'pglite')
  t.ok(existsSync(join(dataDir, 'pglite.pid')), 'held while open')
  await app.close()
  t.notOk(existsSync(join(dataDir, 'pglite.pid')), 'released on close')

  // A failed build does not leave the database open and its folder locked.
  await t.rejects(buildApp(config, { logger: { level: 'not-a-level' } }))
  t.notOk(existsSync(join(dataDir, 'pglite.pid')), 'released after a failed build')
  const again: FastifyInstance = await buildApp(config)
  t.teardown(() => again.close())
  t.equal((await again.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'and the next start opens it')
})
