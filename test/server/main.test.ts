// The plain server as an operator runs it: a real process on a real socket, on the embedded database
// (and on Postgres when the suite has it).
// It serves signed requests, finishes a request that is in flight when SIGTERM arrives, then exits 0;
// a bad setting stops it with exit 78 and a message naming the setting.
import { existsSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import pg from 'pg'
import { openEmbedded } from '../../server/db/embedded.ts'
import { createTenant } from '../../server/db/seed.ts'
import { pgSession } from '../../server/db/sql-session.ts'
import { postgresUrls, uniqueSlug } from '../helpers/backends.ts'
import { TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'
import { spawnApi, type LoggedProcess } from '../helpers/service-processes.ts'

async function listeningPort(server: LoggedProcess): Promise<number> {
  const line = await server.waitForLine(
    l => typeof l.msg === 'string' && l.msg.startsWith('Server listening at http://127.0.0.1:'),
    'listening',
  )
  return Number(/:(\d+)$/.exec(line.msg as string)![1])
}

/** Reads one HTTP/1.1 response (with Content-Length) from a raw socket. */
function readResponse(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      const end = buffer.indexOf('\r\n\r\n')
      if (end === -1) return
      const [statusLine, ...headerLines] = buffer.slice(0, end).split('\r\n')
      const headers = Object.fromEntries(
        headerLines.map(h => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]),
      )
      const body = buffer.slice(end + 4)
      if (Buffer.byteLength(body) < Number(headers['content-length'] ?? 0)) return
      socket.off('data', onData)
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body })
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`socket closed before a full response: ${JSON.stringify(buffer)}`)))
  })
}

/** Whether new connections to `port` are refused within `timeoutMs` (polling). */
async function refusedWithin(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const outcome = await new Promise<string>(resolve => {
      const probe = connect(port, '127.0.0.1')
      probe.once('connect', () => {
        probe.destroy()
        resolve('connected')
      })
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
    })
    if (outcome === 'ECONNREFUSED') return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return false
}

/**
 * Sends a create whose body arrives in two parts, SIGTERMs the server between them, and expects the create
 * to be answered and the process to exit 0.
 */
async function createDuringShutdown(t: Test, server: LoggedProcess, port: number, tenant: string): Promise<void> {
  const body = JSON.stringify({ name: 'Finished during shutdown' })
  const half = Math.floor(body.length / 2)
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>(resolve => socket.once('connect', resolve))
  const signed = signIdentity(TEST_IDENTITY_SECRET, {
    tenant,
    user: 'alice',
    requestId: 'main-inflight-1',
    method: 'POST',
    url: '/api/v1/projects',
    body,
  })
  const head = [
    'POST /api/v1/projects HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n')
  const response = readResponse(socket)
  socket.write(`${head}\r\n\r\n${body.slice(0, half)}`)
  await server.waitForLine(l => l.reqId === 'main-inflight-1' && l.msg === 'incoming request', 'the in-flight request')

  server.child.kill('SIGTERM')
  await server.waitForLine(l => l.msg === 'shutting down: finishing in-flight requests', 'the shutdown')
  socket.write(body.slice(half))

  const answer = await response
  t.equal(answer.status, 201, answer.body)
  t.equal(answer.headers['x-request-id'], 'main-inflight-1')
  t.match(JSON.parse(answer.body), { name: 'Finished during shutdown' })
  t.strictSame(await server.exited, { code: 0, signal: null }, server.stderr())
}

t.test('serves signed requests, and on SIGTERM finishes the one in flight, then exits 0', async t => {
  const dataDir = t.testdir()
  const server = spawnApi(t, { DATA_DIR: dataDir, SEED_DEMO_DATA: 'true' })
  const port = await listeningPort(server)
  const base = `http://127.0.0.1:${port}`

  const url = '/api/v1/projects?limit=50'
  const listed = await fetch(base + url, {
    headers: signIdentity(TEST_IDENTITY_SECRET, {
      tenant: 'acme',
      user: 'alice',
      requestId: 'main-list-1',
      method: 'GET',
      url,
    }),
  })
  t.equal(listed.status, 200)
  t.equal(listed.headers.get('x-request-id'), 'main-list-1')
  const page = (await listed.json()) as { data: Array<{ name: string }> }
  t.ok(page.data.length > 0, 'the demo tenant was seeded')
  t.equal((await fetch(`${base}/api/v1/projects`)).status, 401, 'and an unsigned request over the network is refused')

  // Operator mistakes while it runs: a second server on the same embedded database, or on the same port.
  const twin = spawnApi(t, { DATA_DIR: dataDir })
  t.equal((await twin.exited).code, 1)
  t.match(twin.stderr(), new RegExp(`open in process ${server.child.pid}`), 'names the process that holds the database')
  t.ok(existsSync(join(dataDir, 'pglite.pid')), 'and leaves that process its lock')
  const otherDir = join(dataDir, 'other')
  const clash = spawnApi(t, { DATA_DIR: otherDir, PORT: String(port) })
  t.equal((await clash.exited).code, 1, clash.stderr())
  t.ok(
    clash.lines().some(l => l.level === 'fatal' && l.msg === `cannot listen on 127.0.0.1:${port}`),
    'says where it could not listen',
  )
  t.notOk(existsSync(join(otherDir, 'pglite.pid')), 'and closed the database it had opened')

  await createDuringShutdown(t, server, port, 'acme')
  t.notOk(existsSync(join(dataDir, 'pglite.pid')), 'the embedded database was closed and its lock released')

  // The write was committed before the database closed.
  const embedded = await openEmbedded(join(dataDir, 'pglite'), { asAppRole: false })
  t.teardown(() => embedded.close())
  const rows = await embedded.db.query<{ name: string }>('SELECT name FROM projects WHERE name = $1', [
    'Finished during shutdown',
  ])
  t.equal(rows.rows.length, 1)
})

const postgres = postgresUrls()
if (postgres !== undefined) {
  t.test('on Postgres too, SIGTERM finishes the request in flight and exits 0', async t => {
    const owner = new pg.Pool({ connectionString: postgres.owner, max: 1 })
    t.teardown(() => owner.end())
    const slug = uniqueSlug('main')
    const client = await owner.connect()
    const tenantId = await createTenant(pgSession(client), { slug, name: 'Main test', plan: 'free' }).finally(() =>
      client.release(),
    )
    const server = spawnApi(t, { DATA_DIR: t.testdir(), DATABASE_URL: postgres.app })
    const port = await listeningPort(server)
    await createDuringShutdown(t, server, port, slug)
    const rows = await owner.query('SELECT name FROM projects WHERE tenant_id = $1', [tenantId])
    t.strictSame(rows.rows, [{ name: 'Finished during shutdown' }])
  })
}

t.test(
  'SIGTERM with a drain delay: /ready fails while requests are still served, then the listener closes; a request that still arrives is served, not refused',
  async t => {
    const server = spawnApi(t, {
      DATA_DIR: t.testdir(),
      SEED_DEMO_DATA: 'true',
      SHUTDOWN_DRAIN_DELAY_MS: '1500',
      SHUTDOWN_GRACE_MS: '20000',
    })
    const port = await listeningPort(server)
    await server.waitForLine(l => l.msg === 'gatehouse api ready', 'ready')
    const url = '/api/v1/projects?limit=1'
    const signedGet = (requestId: string): Record<string, string> =>
      signIdentity(TEST_IDENTITY_SECRET, { tenant: 'acme', user: 'alice', requestId, method: 'GET', url })

    // A keep-alive connection whose next request has begun but not finished arriving when the listener closes.
    const late = connect(port, '127.0.0.1')
    t.teardown(() => late.destroy())
    await new Promise<void>(resolve => late.once('connect', resolve))
    const lateResponse = readResponse(late)
    late.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`)

    const ready = await fetch(`http://127.0.0.1:${port}/ready`)
    t.equal(ready.status, 200, 'ready before the signal')
    await ready.body?.cancel()

    server.child.kill('SIGTERM')
    await server.waitForLine(l => l.msg === 'shutting down: finishing in-flight requests', 'the shutdown')
    const draining = await fetch(`http://127.0.0.1:${port}/ready`)
    t.equal(draining.status, 503, 'draining: balancers are told to stop sending')
    t.equal(draining.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    t.match(await draining.json(), {
      type: 'urn:gatehouse:problem:shutting-down',
      status: 503,
      code: 'GH_SHUTTING_DOWN',
    })
    const served = await fetch(`http://127.0.0.1:${port}${url}`, { headers: signedGet('main-drain-1') })
    t.equal(served.status, 200, 'yet a request routed here meanwhile is served')
    t.equal(served.headers.get('connection'), 'close', 'and its client is told to reconnect (elsewhere)')
    t.match(await served.json(), { data: [{ name: String }] })

    await server.waitForLine(l => l.msg === 'drained: closing the listener', 'the end of the drain')
    t.equal(await refusedWithin(port, 10_000), true, 'the listener closes')
    const headers = Object.entries(signedGet('main-late-1'))
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n')
    late.write(`${headers}\r\n\r\n`)
    const answer = await lateResponse
    t.equal(answer.status, 200, `served, not Fastify's bare 503: ${answer.body}`)
    t.equal(answer.headers.connection, 'close')
    t.equal(answer.headers['x-request-id'], 'main-late-1')
    t.strictSame(await server.exited, { code: 0, signal: null }, server.stderr())
  },
)

t.test('a bad setting exits 78 with a message naming it, before opening anything', async t => {
  const dataDir = t.testdir()
  for (const [name, value] of [
    ['PORT', 'abc'],
    ['LOG_LEVEL', 'loud'],
    ['IDENTITY_SECRET', 'short'],
  ] as const) {
    const server = spawnApi(t, { DATA_DIR: dataDir, [name]: value })
    const exit = await server.exited
    t.equal(exit.code, 78, `${name}=${value}`)
    t.match(server.stderr(), new RegExp(`\\b${name}\\b`), `the message names ${name}`)
    t.notMatch(server.stderr(), /\n\s+at /, 'no stack trace for an operator mistake')
  }
  t.notOk(existsSync(join(dataDir, 'pglite')), 'no database was created')
})
