// What a client can do to the edge with request bodies, over real TLS and HTTP/2 as the attacks were made:
// an unfinished upload that outlives its deadline, uploads held open to take the API's connections, bodies
// over the limit without a declared length, more bodies at once than the edge may hold, one user's requests
// taking the pool, and clients that hang up. Each of these once ended the edge, starved other tenants,
// answered 502 for the client's fault, or logged it as the API's failure.
import t, { type Test } from 'tap'
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect as tlsConnect } from 'node:tls'
import { pgliteBackend } from '../helpers/backends.ts'
import { basic, eventually, startEdgeStack, startHttpStub, type EdgeStack, type Login } from '../helpers/edge-stack.ts'

const backend = await pgliteBackend()
t.teardown(() => backend.close())

function session(t: Test, stack: EdgeStack): ClientHttp2Session {
  const client = http2Connect(stack.proxyUrl, { ca: stack.caCert, servername: 'localhost' })
  client.on('error', () => {})
  t.teardown(() => client.destroy())
  return client
}

/** An HTTP/2 POST whose body starts and never ends; resolves with the status the edge answers, if any. */
function unfinishedUpload(
  client: ClientHttp2Session,
  as: Login,
  path = '/api/v1/projects',
): { stream: ClientHttp2Stream; status: Promise<number | undefined> } {
  const stream = client.request(
    { ':method': 'POST', ':path': path, authorization: basic(as), 'content-type': 'application/json' },
    { endStream: false },
  )
  stream.on('error', () => {})
  stream.write('{"name":"')
  const status = new Promise<number | undefined>(resolve => {
    stream.once('response', headers => resolve(Number(headers[':status'])))
    stream.once('close', () => resolve(undefined))
  })
  return { stream, status }
}

const upstreamErrorCount = async (stack: EdgeStack): Promise<number> =>
  (await stack.proxy.edgeMetrics.upstreamErrors.get()).values.reduce((sum, value) => sum + value.value, 0)

const clientFaults = async (stack: EdgeStack, kind: string): Promise<number> =>
  (await stack.proxy.edgeMetrics.clientFaults.get()).values.find(value => value.labels.kind === kind)?.value ?? 0

t.test('an HTTP/2 upload unfinished at the request deadline never reaches the API, and the edge lives on', async t => {
  // The stand-in API answers at once without reading, after the edge's 408: on the old streaming path its answer
  // met an answered reply, was left unread and destroyed at UPSTREAM_TIMEOUT_MS with an error nothing handled.
  let reached = 0
  const stub = await startHttpStub(t, (request, response) => {
    if (request.method === 'POST') reached++
    setTimeout(
      () =>
        response
          .writeHead(request.method === 'POST' ? 201 : 200, {
            'content-type': 'application/json',
            'cache-control': 'no-store',
          })
          .end('{}'),
      request.method === 'POST' ? 1200 : 0,
    )
  })
  const stack = await startEdgeStack(
    t,
    backend,
    { UPSTREAM_URLS: stub, HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '800', UPSTREAM_TIMEOUT_MS: '2000' },
    { captureLogs: true },
  )
  const alice = await stack.addLogin()
  const { status } = unfinishedUpload(session(t, stack), alice)
  t.equal(await status, 408, 'the edge answers 408 at its deadline')
  await sleep(2600) // past UPSTREAM_TIMEOUT_MS, when the old path threw
  t.equal(reached, 0, 'the API never saw the unfinished request')
  t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200, 'the edge still serves')
  t.same(
    stack.logs.filter(line => (line.level as number) >= 50),
    [],
    'nothing logged as an error',
  )
  t.notOk(
    stack.logs.some(
      line =>
        line.msg === 'Reply was already sent, did you forget to "return reply" in the "onRequest" hook?' ||
        String(line.msg).includes('already sent'),
    ),
  )
})

t.test("one user's held uploads do not starve another tenant's requests", async t => {
  const stack = await startEdgeStack(t, backend, { UPSTREAM_CONNECTIONS: '16' })
  const alice = await stack.addLogin('alice')
  const bob = await stack.addLogin('bob')
  const client = session(t, stack)
  const held = Array.from({ length: 24 }, () => unfinishedUpload(client, alice))
  await sleep(300)
  const started = Date.now()
  const response = await stack.request('/api/v1/projects', { as: bob, headers: { 'cache-control': 'no-store' } })
  t.equal(response.status, 200)
  t.ok(Date.now() - started < 1500, `bob answered in ${Date.now() - started} ms while alice holds 24 uploads`)
  for (const upload of held) upload.stream.close()
})

t.test('bodies over BODY_LIMIT_BYTES without a declared length get 413 from the edge, every time', async t => {
  const stack = await startEdgeStack(t, backend)
  const alice = await stack.addLogin()
  const big = Buffer.alloc(Math.ceil(stack.proxyConfig.bodyLimitBytes * 1.3), 'a')
  const client = session(t, stack)
  for (let attempt = 0; attempt < 10; attempt++) {
    // HTTP/2 with no content-length.
    const stream = client.request({
      ':method': 'POST',
      ':path': '/api/v1/projects',
      authorization: basic(alice),
      'content-type': 'application/json',
    })
    stream.on('error', () => {})
    const status = new Promise<number>(resolve =>
      stream.once('response', headers => resolve(Number(headers[':status']))),
    )
    stream.end(big)
    t.equal(await status, 413, `HTTP/2 try ${attempt + 1}`)
    stream.close()

    // HTTP/1.1 chunked.
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: Number(new URL(stack.proxyUrl).port),
      ca: stack.caCert,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    })
    socket.on('error', () => {})
    await new Promise(resolve => socket.once('secureConnect', resolve))
    let answer = ''
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1')
    })
    socket.write(
      `POST /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic(alice)}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    )
    for (let offset = 0; offset < big.length && !socket.destroyed; offset += 65536) {
      const chunk = big.subarray(offset, offset + 65536)
      socket.write(`${chunk.length.toString(16)}\r\n`)
      socket.write(chunk)
      socket.write('\r\n')
    }
    await eventually(async () => answer.includes('\r\n\r\n'), 5000, 'an answer')
    t.match(answer, /^HTTP\/1\.1 413 /, `HTTP/1.1 try ${attempt + 1}`)
    socket.destroy()
  }
})

t.test(
  'past BODY_BUFFER_MAX_BYTES held at once, 503 with Retry-After; the room comes back when a body leaves',
  async t => {
    const stack = await startEdgeStack(t, backend, { BODY_LIMIT_BYTES: '65536', BODY_BUFFER_MAX_BYTES: '100000' })
    const alice = await stack.addLogin()
    const client = session(t, stack)
    const open = (): ClientHttp2Stream => {
      const stream = client.request(
        {
          ':method': 'POST',
          ':path': '/api/v1/projects',
          authorization: basic(alice),
          'content-type': 'application/json',
          'content-length': '60000',
        },
        { endStream: false },
      )
      stream.on('error', () => {})
      stream.write('{"name":"')
      return stream
    }
    const first = open()
    await sleep(200)
    const second = open()
    const refused = await new Promise<Record<string, unknown>>(resolve => second.once('response', resolve))
    t.equal(refused[':status'], 503)
    t.equal(refused['retry-after'], '1')
    first.close()
    await sleep(200)
    const body = JSON.stringify({ name: 'fits again' })
    const response = await stack.request('/api/v1/projects', { as: alice, method: 'POST', body })
    t.equal(response.status, 201, 'a body is taken again once the held one is gone')
  },
)

t.test(
  "past a user's share of the upstream pool, requests wait their turn, then get 429; others are served",
  async t => {
    const waiting: Array<() => void> = []
    let reached = 0
    const stub = await startHttpStub(t, (request, response) => {
      const answer = (): void => {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
      }
      if (request.url?.includes('hold') === true) {
        reached++
        waiting.push(answer)
      } else answer()
    })
    const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub, UPSTREAM_CONNECTIONS: '8' }) // a share of 2, 8 may wait
    const alice = await stack.addLogin('alice')
    const bob = await stack.addLogin('bob')
    const held = Array.from({ length: 10 }, (_, index) =>
      stack.request(`/api/v1/projects?hold=${index}`, { as: alice }),
    )
    await eventually(async () => waiting.length === 2, 5000, 'two of alice’s requests at the API')
    await sleep(300)
    t.equal(reached, 2, 'no more than her share reached the API')
    const refused = await stack.request('/api/v1/projects?hold=refused', { as: alice })
    t.equal(refused.status, 429, 'past the share and its queue: refused')
    t.equal(refused.headers['retry-after'], '1')
    t.match(refused.json(), { type: 'urn:gatehouse:problem:too-many-in-flight', status: 429 })
    t.equal((await stack.request('/api/v1/projects', { as: bob })).status, 200, 'bob is served meanwhile')
    // Each answer lets one waiting request through, never more than two at once.
    while (reached < 10 || waiting.length > 0) {
      await eventually(async () => waiting.length > 0, 5000, 'a request at the API')
      t.ok(waiting.length <= 2, `${waiting.length} at the API at once`)
      waiting.shift()!()
    }
    t.same(
      (await Promise.all(held)).map(response => response.status),
      Array(10).fill(200),
      'the waiting requests were served in turn',
    )
    t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200, 'alice has her share back')
  },
)

t.test('clients that hang up are client faults: no upstream error counted, no stack, no warning', async t => {
  const waiting: Array<() => void> = []
  const stub = await startHttpStub(t, (request, response) => {
    const answer = (): void => {
      if (!response.destroyed) {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
      }
    }
    if (request.url?.includes('hold') === true) waiting.push(answer)
    else answer()
  })
  const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub }, { captureLogs: true })
  const alice = await stack.addLogin()
  const before = await upstreamErrorCount(stack)

  // Waiting for the API, then gone: an HTTP/2 reset, and an HTTP/1.1 socket closed.
  const client = session(t, stack)
  const stream = client.request({ ':path': '/api/v1/projects?hold=h2', authorization: basic(alice) })
  stream.on('error', () => {})
  await eventually(async () => waiting.length === 1, 5000, 'the API holds the HTTP/2 request')
  stream.close()
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: Number(new URL(stack.proxyUrl).port),
    ca: stack.caCert,
    servername: 'localhost',
    ALPNProtocols: ['http/1.1'],
  })
  socket.on('error', () => {})
  await new Promise(resolve => socket.once('secureConnect', resolve))
  socket.write(`GET /api/v1/projects?hold=h1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic(alice)}\r\n\r\n`)
  await eventually(async () => waiting.length === 2, 5000, 'the API holds the HTTP/1.1 request')
  socket.destroy()

  // Gone in the middle of a body.
  const half = client.request(
    { ':method': 'POST', ':path': '/api/v1/projects', authorization: basic(alice), 'content-type': 'application/json' },
    { endStream: false },
  )
  half.on('error', () => {})
  half.write('{"na')
  await sleep(100)
  half.close()

  await eventually(
    async () => (await clientFaults(stack, 'aborted')) >= 3,
    5000,
    'three aborted exchanges counted as client faults',
  )
  for (const answer of waiting.splice(0)) answer()
  await sleep(200)
  t.equal(await upstreamErrorCount(stack), before, 'no upstream error counted')
  const loud = stack.logs.filter(line => (line.level as number) >= 40)
  t.same(loud, [], 'no warning or error logged')
  t.notOk(
    stack.logs.some(line => JSON.stringify(line).includes('    at ')),
    'no stack traces',
  )
  t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200)
})

t.test(
  'an HTTP/2 request waiting on the API longer than KEEP_ALIVE_TIMEOUT_MS keeps its session; an idle one goes',
  async t => {
    const stub = await startHttpStub(t, (request, response) => {
      setTimeout(
        () =>
          response
            .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end('{"slow":true}'),
        request.url?.includes('slow') === true ? 2500 : 0,
      )
    })
    const stack = await startEdgeStack(t, backend, {
      UPSTREAM_URLS: stub,
      HEADERS_TIMEOUT_MS: '500',
      KEEP_ALIVE_TIMEOUT_MS: '1000',
    })
    const alice = await stack.addLogin()
    // Node's session timeout counts frames: 2.5 s of silence while the API works used to close the session
    // (GOAWAY), which undici takes as the request's failure.
    const slow = await stack.request('/api/v1/projects?slow', { as: alice })
    t.equal(slow.status, 200)
    t.same(slow.json(), { slow: true })

    const client = session(t, stack)
    const closed = new Promise<number>(resolve => {
      const since = Date.now()
      client.once('close', () => resolve(Date.now() - since))
    })
    const stream = client.request({ ':path': '/api/v1/projects', authorization: basic(alice) })
    stream.resume()
    await new Promise(resolve => stream.once('close', resolve))
    const afterMs = await Promise.race([closed, sleep(5000).then(() => Infinity)])
    t.ok(afterMs >= 900 && afterMs < 4000, `an idle session is closed at the keep-alive deadline (${afterMs} ms)`)
  },
)
