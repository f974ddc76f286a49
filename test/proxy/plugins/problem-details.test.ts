// A client that hangs up while its answer is still coming from the API is not an edge failure: the edge
// logs it at info, without a stack, instead of an error per dropped request (a load test's end, a phone
// going into a tunnel). Real failures are still errors: see forward-failures.test.ts.
import t from 'tap'
import { connect as http2Connect } from 'node:http2'
import { connect as tlsConnect } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import { pgliteBackend } from '../../helpers/backends.ts'
import { basic, eventually, startEdgeStack, startHttpStub } from '../../helpers/edge-stack.ts'

t.test('a client gone before the API answers is logged at info, not as an edge error', async t => {
  const backend = await pgliteBackend()
  t.teardown(() => backend.close())
  let slow = false
  let held = 0
  const stub = await startHttpStub(t, (request, response) => {
    request.resume()
    if (!slow) {
      return response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
    }
    // The API answers after the client has left: the edge then starts streaming into a closed response.
    held++
    setTimeout(
      () =>
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"data":[]}'),
      500,
    ).unref()
  })
  const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub }, { captureLogs: true })
  const alice = await stack.addLogin()
  slow = true
  const authorization = basic(alice)
  const { port } = new URL(stack.proxyUrl)

  // HTTP/1.1, a write: the client closes its TLS connection.
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: Number(port),
    ca: stack.caCert,
    servername: 'localhost',
    ALPNProtocols: ['http/1.1'],
  })
  await new Promise(resolve => socket.once('secureConnect', resolve))
  const body = '{"name":"Launch"}'
  socket.write(
    `POST /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  )
  await eventually(async () => held === 1, 5000, 'the API got the request')
  socket.destroy()

  // HTTP/2, an uncached read: the client resets its stream.
  const session = http2Connect(stack.proxyUrl, { ca: stack.caCert, servername: 'localhost' })
  t.teardown(() => session.destroy())
  const stream = session.request({ ':path': '/api/v1/projects?limit=3', authorization, 'cache-control': 'no-store' })
  stream.on('error', () => {})
  await eventually(async () => held === 2, 5000, 'the API got the second request')
  stream.close()

  // Each exchange is called off as its client leaves: one info line each, without a stack.
  await eventually(
    async () => stack.logs.filter(line => line.msg === 'client went away before the API answered').length >= 2,
    15_000,
    'both hang-ups seen',
  )
  await sleep(800) // past the moment the API would have answered
  const errors = stack.logs.filter(line => (line.level as number) >= 40)
  t.same(errors, [], 'no warning or error-level log for clients that left')
  const gone = stack.logs.filter(line => line.msg === 'client went away before the API answered')
  for (const line of gone) {
    t.equal(line.level, 30)
    t.notOk(JSON.stringify(line).includes('    at '), 'without a stack trace')
  }
  // The edge is fine: the next request is answered.
  slow = false
  t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200)
})
