// Drill (issue 5): the API process's own client deadlines (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
// KEEP_ALIVE_TIMEOUT_MS), set short: it sits behind the edge, but whatever reaches its port directly —
// or a stuck edge connection — may not hold a socket either. Headers trickled forever and a body sent too
// slowly get a 408 and the connection closed; an idle keep-alive connection is closed.
// Bounds are for "does not hang", with a lot of slack; none is about speed.
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { signIdentity } from '../../common/identity-signature.js'
import { TEST_IDENTITY_SECRET } from '../helpers/build-app.js'
import { startApiProcess } from '../helpers/service-processes.js'

const HEADERS_MS = 1000
const REQUEST_MS = 2000
const KEEP_ALIVE_MS = 1000
const BOUND_MS = 20_000

const api = await startApiProcess(t, { env: { HEADERS_TIMEOUT_MS: String(HEADERS_MS), REQUEST_TIMEOUT_MS: String(REQUEST_MS), KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS), SEED_DEMO_DATA: 'true' } })

async function open (): Promise<{ socket: Socket, ended: Promise<{ afterMs: number, received: string }> }> {
  const socket = connect(api.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const since = Date.now()
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  socket.on('error', () => {})
  const ended = new Promise<{ afterMs: number, received: string }>((resolve) => {
    const bound = setTimeout(() => resolve({ afterMs: Infinity, received }), BOUND_MS)
    socket.once('close', () => { clearTimeout(bound); resolve({ afterMs: Date.now() - since, received }) })
  })
  return { socket, ended }
}

const dripping = (socket: Socket, text: string): void => {
  let index = 0
  const timer = setInterval(() => { if (socket.writable) socket.write(text[index++ % text.length]!) }, 100)
  socket.once('close', () => clearInterval(timer))
}

t.test('headers trickled forever: 408 at the header deadline, connection closed', async (t) => {
  const { socket, ended } = await open()
  socket.write('GET /api/v1/projects HTTP/1.1\r\nHost: api\r\n')
  dripping(socket, 'X-Slow: yes\r\n')
  const { afterMs, received } = await ended
  t.ok(afterMs >= HEADERS_MS * 0.9 && afterMs < BOUND_MS, `closed after ${afterMs} ms`)
  t.match(received, /^HTTP\/1\.1 408 /)
})

t.test('a body sent too slowly: 408 at the request deadline, connection closed', async (t) => {
  const { socket, ended } = await open()
  const signed = signIdentity(TEST_IDENTITY_SECRET, { tenant: 'acme', user: 'alice', requestId: 'slow-body', method: 'POST', url: '/api/v1/projects' })
  socket.write(['POST /api/v1/projects HTTP/1.1', 'Host: api', 'Content-Type: application/json', 'Content-Length: 100000',
    ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`), '', '{"name":"'].join('\r\n'))
  dripping(socket, 'a')
  const { afterMs, received } = await ended
  t.ok(afterMs >= REQUEST_MS * 0.9 && afterMs < BOUND_MS, `closed after ${afterMs} ms`)
  t.match(received, /^HTTP\/1\.1 408 /)
})

t.test('an idle keep-alive connection is closed after its answer', async (t) => {
  const { socket, ended } = await open()
  socket.write('GET /health HTTP/1.1\r\nHost: api\r\n\r\n')
  const { afterMs, received } = await ended
  t.match(received, /^HTTP\/1\.1 200 /, 'answered first')
  t.ok(afterMs >= KEEP_ALIVE_MS * 0.9 && afterMs < BOUND_MS, `then closed after ${afterMs} ms idle`)
})
