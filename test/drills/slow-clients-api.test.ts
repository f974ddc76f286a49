// Drill (issue 5): the API process's own client deadlines (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
// KEEP_ALIVE_TIMEOUT_MS), set short: it sits behind the edge, but whatever reaches its port directly —
// or a stuck edge connection — may not hold a socket either. Headers trickled forever and a body sent too
// slowly get a 408 and the connection closed; an idle keep-alive connection is closed.
// Bounds are for "does not hang", with a lot of slack; none is about speed.
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import { TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'
import { startApiProcess } from '../helpers/service-processes.ts'
import { closedBy, trickle, type Ending } from '../helpers/slow-peers.ts'

const HEADERS_MS = 1000
const REQUEST_MS = 2000
const KEEP_ALIVE_MS = 1000
const BOUND_MS = 20_000

const api = await startApiProcess(t, {
  env: {
    HEADERS_TIMEOUT_MS: String(HEADERS_MS),
    REQUEST_TIMEOUT_MS: String(REQUEST_MS),
    KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
    SEED_DEMO_DATA: 'true',
  },
})

/** A connection to the API, and when (since it opened) and after what the API closed it. */
async function open(): Promise<{ socket: Socket; ended: Promise<Ending> }> {
  const socket = connect(api.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>(resolve => socket.once('connect', resolve))
  return { socket, ended: closedBy(socket, Date.now(), BOUND_MS) }
}

/** Sends `head`, then `drip` a byte every 100 ms: the API answers 408 at `deadlineMs` and closes the connection. */
async function cutOffWith408(t: Test, head: string, drip: string, deadlineMs: number): Promise<void> {
  const { socket, ended } = await open()
  socket.write(head)
  trickle(socket, drip, 100)
  const { afterMs, received } = await ended
  t.ok(afterMs >= deadlineMs * 0.9 && afterMs < BOUND_MS, `closed after ${afterMs} ms`)
  t.match(received, /^HTTP\/1\.1 408 /)
}

t.test('headers trickled forever: 408 at the header deadline, connection closed', async t => {
  await cutOffWith408(t, 'GET /api/v1/projects HTTP/1.1\r\nHost: api\r\n', 'X-Slow: yes\r\n', HEADERS_MS)
})

t.test('a body sent too slowly: 408 at the request deadline, connection closed', async t => {
  // Signed for the whole body it announces (a name of 99,989 a's), of which it sends one byte at a time.
  const body = `{"name":"${'a'.repeat(99_989)}"}`
  const signed = signIdentity(TEST_IDENTITY_SECRET, {
    tenant: 'acme',
    user: 'alice',
    requestId: 'slow-body',
    method: 'POST',
    url: '/api/v1/projects',
    body,
  })
  const head = [
    'POST /api/v1/projects HTTP/1.1',
    'Host: api',
    'Content-Type: application/json',
    `Content-Length: ${body.length}`,
    ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`),
    '',
    '{"name":"',
  ].join('\r\n')
  await cutOffWith408(t, head, 'a', REQUEST_MS)
})

t.test('an idle keep-alive connection is closed after its answer', async t => {
  const { socket, ended } = await open()
  socket.write('GET /health HTTP/1.1\r\nHost: api\r\n\r\n')
  const { afterMs, received } = await ended
  t.match(received, /^HTTP\/1\.1 200 /, 'answered first')
  t.ok(afterMs >= KEEP_ALIVE_MS * 0.9 && afterMs < BOUND_MS, `then closed after ${afterMs} ms idle`)
})
