// Drill (issue 5): slow clients against the edge process. With its client deadlines set short (the
// defaults are 10 s for headers, 60 s for a whole request, 60 s idle between requests):
// - headers sent byte by byte forever (slowloris), over HTTP/1.1 or as an HTTP/2 HEADERS frame, are cut off;
// - a body sent slower than the request deadline allows is cut off, and never reaches the API (bodies are
//   received whole at the edge first);
// - idle keep-alive connections and HTTP/2 sessions are closed, and so are connections that never ask
//   anything or never finish the TLS handshake;
// - a client that does not read a large response does not make the edge buffer it, not even one the cache
//   would have kept were it smaller: the API is read only as fast as the client reads (backpressure), and
//   the stalled connection is dropped after the deadline.
// Bounds are for "does not hang" and leave a lot of slack for a loaded machine; none is about speed.
import { connect as connectTcp } from 'node:net'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { BIG_BYTES, closedBy, startSlowPeerStack, trickle } from '../helpers/slow-peers.ts'

const HEADERS_MS = 1000
const REQUEST_MS = 3000
const KEEP_ALIVE_MS = 1500
/** Far beyond each deadline, yet short enough to fail a test instead of hanging it. */
const BOUND_MS = 20_000

const stack = await startSlowPeerStack(t, {
  HEADERS_TIMEOUT_MS: String(HEADERS_MS),
  REQUEST_TIMEOUT_MS: String(REQUEST_MS),
  KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
})

t.test('slowloris over HTTP/1.1: headers trickled forever are cut off by the header deadline with a 408', async t => {
  const socket = await stack.tls('http/1.1')
  const since = Date.now()
  const ending = closedBy(socket, since, BOUND_MS)
  socket.write('GET /api/v1/fast HTTP/1.1\r\nHost: localhost\r\n')
  trickle(socket, 'X-Slow: yes\r\n', 100)
  const { afterMs, received } = await ending
  t.ok(afterMs < BOUND_MS, `closed after ${afterMs} ms`)
  t.ok(afterMs >= HEADERS_MS * 0.9, 'by the header deadline, not before it')
  t.match(received, /^HTTP\/1\.1 408 /, `told why: ${received.slice(0, 60)}`)
})

t.test('slowloris over HTTP/2: a HEADERS frame trickled forever is cut off', async t => {
  const socket = await stack.tls('h2')
  const since = Date.now()
  const ending = closedBy(socket, since, BOUND_MS)
  // Preface, empty SETTINGS, then a HEADERS frame announcing 16 KiB for stream 1 whose bytes come one by one.
  socket.write(
    Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      Buffer.from([0, 0x40, 0, 1, 4, 0, 0, 0, 1]),
    ]),
  )
  trickle(socket, '\x00', 100)
  const { afterMs } = await ending
  t.ok(afterMs < BOUND_MS, `closed after ${afterMs} ms`)
})

t.test('a body sent slower than the request deadline allows is cut off, and never reaches the API', async t => {
  const uploadsBefore = stack.uploads.length
  const socket = await stack.tls('http/1.1')
  const since = Date.now()
  const ending = closedBy(socket, since, BOUND_MS)
  socket.write(
    `POST /api/v1/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${stack.authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[`,
  )
  trickle(socket, '1,', 100)
  const { afterMs, received } = await ending
  t.ok(afterMs < BOUND_MS, `HTTP/1.1: closed after ${afterMs} ms`)
  t.ok(afterMs >= REQUEST_MS * 0.9, 'by the request deadline, not before it')
  t.match(received, /^HTTP\/1\.1 408 /, 'with a 408')

  const session = stack.h2()
  const stream = session.request({
    ':method': 'POST',
    ':path': '/api/v1/upload',
    authorization: stack.authorization,
    'content-type': 'application/json',
    'content-length': '100000',
  })
  stream.on('error', () => {})
  stream.write('[')
  const h2Since = Date.now()
  const timer = setInterval(() => {
    if (stream.writable) stream.write('1,')
  }, 100)
  t.teardown(() => clearInterval(timer))
  const answer = await new Promise<{ afterMs: number; status?: number }>(resolve => {
    const bound = setTimeout(() => resolve({ afterMs: Infinity }), BOUND_MS)
    const done = (status?: number): void => {
      clearTimeout(bound)
      resolve({ afterMs: Date.now() - h2Since, ...(status !== undefined ? { status } : {}) })
    }
    stream.once('response', headers => done(Number(headers[':status'])))
    stream.once('close', () => done())
  })
  clearInterval(timer)
  t.ok(answer.afterMs < BOUND_MS, `HTTP/2: answered after ${answer.afterMs} ms`)
  t.ok(answer.afterMs >= REQUEST_MS * 0.9, 'by the request deadline, not before it')
  t.equal(answer.status, 408)
  t.equal(stack.uploads.length, uploadsBefore, 'neither slow body began an upload to the API')
})

t.test(
  'idle connections are closed: keep-alive after a request, HTTP/2 sessions, silent ones, unfinished TLS',
  async t => {
    const since = Date.now()
    const afterRequest = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const socket = await stack.tls('http/1.1')
        const ending = closedBy(socket, since, BOUND_MS)
        socket.write(`GET /api/v1/fast HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${stack.authorization}\r\n\r\n`)
        return ending
      }),
    )
    const silent = await Promise.all(
      Array.from({ length: 20 }, async () => closedBy(await stack.tls('http/1.1'), since, BOUND_MS)),
    )
    const sessions = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const session = stack.h2()
        const stream = session.request({ ':path': '/api/v1/fast', authorization: stack.authorization })
        stream.resume()
        await new Promise(resolve => stream.once('close', resolve))
        return new Promise<number>(resolve => {
          const bound = setTimeout(() => resolve(Infinity), BOUND_MS)
          session.once('close', () => {
            clearTimeout(bound)
            resolve(Date.now() - since)
          })
        })
      }),
    )
    const handshakes = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<number>(resolve => {
            const socket = connectTcp(stack.port, '127.0.0.1')
            socket.on('error', () => {})
            t.teardown(() => socket.destroy())
            const bound = setTimeout(() => resolve(Infinity), BOUND_MS)
            socket.once('close', () => {
              clearTimeout(bound)
              resolve(Date.now() - since)
            })
          }),
      ),
    )
    t.ok(
      afterRequest.every(ending => /^HTTP\/1\.1 200 /.test(ending.received)),
      'each got its answer first',
    )
    t.ok(
      afterRequest.every(ending => ending.afterMs < BOUND_MS),
      `50 idle keep-alive connections closed, the last after ${Math.max(...afterRequest.map(e => e.afterMs))} ms`,
    )
    t.ok(
      silent.every(ending => ending.afterMs < BOUND_MS),
      `20 connections that never sent a byte closed, the last after ${Math.max(...silent.map(e => e.afterMs))} ms`,
    )
    t.ok(
      sessions.every(ms => ms < BOUND_MS),
      `10 idle HTTP/2 sessions closed, the last after ${Math.max(...sessions)} ms`,
    )
    t.ok(
      handshakes.every(ms => ms < BOUND_MS),
      `20 connections that never began TLS closed, the last after ${Math.max(...handshakes)} ms`,
    )
  },
)

t.test('a client that does not read a large response: the API is read only as fast as the client reads', async t => {
  for (const [protocol, path] of [
    ['http/1.1', '/api/v1/big'],
    ['h2', '/api/v1/big'],
    ['http/1.1', '/api/v1/big?shareable'],
  ] as const) {
    const before = stack.streamed.length
    const since = Date.now()
    let closed: Promise<unknown>
    let paused: TLSSocket | undefined
    if (protocol === 'http/1.1') {
      const socket = (paused = await stack.tls('http/1.1'))
      closed = closedBy(socket, since, BOUND_MS * 2)
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${stack.authorization}\r\n\r\n`)
      socket.once('data', () => socket.pause()) // the first bytes, then nothing more is read
    } else {
      const session = stack.h2()
      const stream = session.request({ ':path': path, authorization: stack.authorization })
      stream.on('error', () => {})
      stream.pause()
      closed = new Promise(resolve => session.once('close', resolve))
      stream.once('response', () => {})
    }
    // Long enough for an edge that buffered to have taken much of it.
    await new Promise(resolve => setTimeout(resolve, 2000))
    const record = stack.streamed[before]
    t.ok(record !== undefined, `${protocol} ${path}: the API began answering`)
    const taken = record?.bytesWritten ?? 0
    t.ok(
      taken < BIG_BYTES / 4,
      `${protocol}: the edge took ${(taken / 1048576).toFixed(1)} MiB of ${BIG_BYTES / 1048576} MiB from the API for a client that reads nothing`,
    )
    // The stalled connection goes once nothing has moved for the request deadline; the API's response with it.
    const deadline = Date.now() + BOUND_MS
    while (record !== undefined && !record.closed && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.ok(
      record?.closed === true && !record.finished,
      `${protocol}: the response from the API was abandoned, not finished (after ${Date.now() - since} ms)`,
    )
    if (protocol === 'http/1.1') {
      // The client reads again: what the kernel held for it, then the end the edge sent when it gave up.
      paused?.resume()
      t.ok(((await closed) as { afterMs: number }).afterMs < BOUND_MS * 2, 'and the client connection was closed')
    }
  }
})
