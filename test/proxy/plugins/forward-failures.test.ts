// What the edge refuses or reports itself when forwarding cannot or must not happen: an API that is
// down (502) or silent (504), bodies over the limit (413), paths that could mean something else
// upstream (400), and the API's internal endpoints, which the public port never reaches (404).
import t from 'tap'
import { connect as http2Connect } from 'node:http2'
import { createServer } from 'node:http'
import { connect } from 'node:tls'
import { forEachBackend } from '../../helpers/backends.ts'
import { freePort, startEdgeStack, startHttpStub } from '../../helpers/edge-stack.ts'

forEachBackend(t, async (t, backend) => {
  t.test(
    'API not up yet: 503 problem+json with Retry-After, said once in the log; down after it answered: 502, quickly',
    async t => {
      // A port nobody listens on yet: the connection is refused at once.
      const port = await freePort()
      const stack = await startEdgeStack(
        t,
        backend,
        { UPSTREAM_URLS: `http://127.0.0.1:${port}` },
        { captureLogs: true },
      )
      const alice = await stack.addLogin() // the login probe accepts the 503: it is not a 401
      for (const http2 of [true, false]) {
        const response = await stack.request('/api/v1/projects', { as: alice, http2 })
        t.equal(response.status, 503)
        t.equal(response.headers['retry-after'], '1')
        t.match(response.json(), { type: 'urn:gatehouse:problem:upstream-starting', status: 503 })
      }
      t.equal(
        stack.logs.filter(line => line.msg === 'the API does not answer yet: 503 until it does').length,
        1,
        'logged once',
      )
      t.notOk(
        stack.logs.some(line => JSON.stringify(line).includes('    at ')),
        'no stack traces for an API that is starting',
      )

      const api = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
      })
      await new Promise<void>(resolve => api.listen(port, '127.0.0.1', resolve))
      t.equal((await stack.request('/api/v1/projects', { as: alice })).status, 200, 'served once the API is up')
      api.closeAllConnections()
      await new Promise(resolve => api.close(resolve))

      for (const http2 of [true, false]) {
        const started = Date.now()
        const response = await stack.request('/api/v1/projects', { as: alice, http2 })
        t.equal(response.status, 502)
        t.ok(Date.now() - started < 5000, 'no waiting on a dead API (the upstream timeout is 30 s)')
        t.match(response.headers['content-type'], /^application\/problem\+json/)
        t.match(response.json(), { type: 'urn:gatehouse:problem:upstream-unavailable', status: 502 })
        t.notMatch(response.body, /ECONNREFUSED|127\.0\.0\.1/, 'no internal detail leaks')
      }
      const failures = stack.logs.filter(line => line.msg === 'forwarding to the API failed')
      t.equal(failures.length, 2)
      for (const line of failures) {
        t.notOk(JSON.stringify(line).includes('    at '), 'a refused connection is logged without a stack')
      }
    },
  )

  t.test('API silent: 504 problem+json after UPSTREAM_TIMEOUT_MS', async t => {
    let silent = false
    const stub = await startHttpStub(t, (_request, response) => {
      // Answers the login probe, then stops answering: headers never come.
      if (!silent) {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{}')
      }
    })
    const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub, UPSTREAM_TIMEOUT_MS: '300' })
    const alice = await stack.addLogin()
    silent = true
    const started = Date.now()
    const response = await stack.request('/api/v1/projects', { as: alice })
    const elapsed = Date.now() - started
    t.equal(response.status, 504)
    t.ok(elapsed >= 250 && elapsed < 10_000, `gave up after ${elapsed} ms`)
    t.match(response.json(), { type: 'urn:gatehouse:problem:upstream-timeout', status: 504 })
  })

  t.test(
    'a small answer is read whole first: cut off mid-body it is a clean 502, trickling past the deadline a 504',
    async t => {
      let mode: 'ok' | 'cut' | 'trickle' = 'ok'
      const stub = await startHttpStub(t, (_request, response) => {
        const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': '1000' }
        if (mode === 'ok') return response.writeHead(200, headers).end(`"${'x'.repeat(998)}"`)
        response.writeHead(200, headers).write('"' + 'x'.repeat(499))
        if (mode === 'cut') setTimeout(() => response.socket?.destroy(), 20)
      })
      const stack = await startEdgeStack(t, backend, { UPSTREAM_URLS: stub, UPSTREAM_TIMEOUT_MS: '400' })
      const alice = await stack.addLogin()
      for (const http2 of [true, false]) {
        mode = 'cut'
        const cut = await stack.request('/api/v1/projects', { as: alice, http2 })
        t.equal(cut.status, 502, 'no 200 with half a body')
        t.match(cut.json(), { type: 'urn:gatehouse:problem:upstream-unavailable', status: 502 })
        mode = 'trickle'
        const slow = await stack.request('/api/v1/projects', { as: alice, http2 })
        t.equal(slow.status, 504)
        t.match(slow.json(), { type: 'urn:gatehouse:problem:upstream-timeout', status: 504 })
        mode = 'ok'
        const whole = await stack.request('/api/v1/projects', { as: alice, http2 })
        t.equal(whole.status, 200)
        t.equal(whole.body.length, 1000)
      }
    },
  )

  t.test('through to the real API: bodies over BODY_LIMIT_BYTES get 413', async t => {
    const stack = await startEdgeStack(t, backend, { BODY_LIMIT_BYTES: '2048' })
    const alice = await stack.addLogin()
    const big = JSON.stringify({ name: 'Big', description: 'x'.repeat(4096) })
    for (const http2 of [true, false]) {
      const response = await stack.request('/api/v1/projects', { as: alice, method: 'POST', body: big, http2 })
      t.equal(response.status, 413)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.equal(response.json().type, 'urn:gatehouse:problem:payload-too-large')
    }
    const small = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ name: 'Small' }),
    })
    t.equal(small.status, 201, 'a body under the limit still goes through')
    const count = await backend.asOwner(session =>
      session.query<{ n: number }>('SELECT count(*)::int AS n FROM projects WHERE tenant_id = $1', [alice.tenant.id]),
    )
    t.same(count, [{ n: 1 }], 'only the small project was created')
  })

  t.test('dot segments, encoded slashes and backslashes: 400; internal API endpoints: 404', async t => {
    const stack = await startEdgeStack(t, backend)
    const alice = await stack.addLogin()
    // Sent as written: a URL library would resolve %2e%2e and .. before they left the client.
    const suspicious = [
      '/api/v1/projects/%2e%2e/tasks',
      '/api/v1/projects%2Fx',
      '/api/v1/%2E%2E/metrics',
      '/api/v1/projects%5cx',
      '/api/v1/../metrics',
      '/api/v1/./projects',
      '/api/v1/projects/..',
    ]
    for (const path of suspicious) {
      const overH1 = await rawHttp1(stack.proxyUrl, stack.caCert, path, basicOf(alice))
      t.equal(overH1.status, 400, `HTTP/1.1 ${path}`)
      t.match(overH1.text, /application\/problem\+json/, path)
      t.equal(await rawHttp2(stack.proxyUrl, stack.caCert, path, basicOf(alice)), 400, `HTTP/2 ${path}`)
    }
    for (const path of ['/metrics', '/api/v2/projects', '/documentation', '/']) {
      const response = await stack.request(path, { as: alice })
      t.equal(response.status, 404, path)
      t.equal(response.json().type, 'urn:gatehouse:problem:route-not-found', path)
      t.notMatch(response.body, /process_cpu|# HELP/, `${path} is not the API's metrics`)
    }
    // /ready at the edge is the proxy's own check (is the API ready?), not the API's endpoint passed through.
    const ready = await stack.request('/ready', { as: alice })
    t.equal(ready.status, 200)
    t.same(ready.json(), { status: 'ok', upstream: 'ready', upstreamsReady: 1, upstreams: 1 })
  })
})

const basicOf = (login: { login: string; password: string }): string =>
  `Basic ${Buffer.from(`${login.login}:${login.password}`).toString('base64')}`

/** One HTTP/1.1 request line exactly as written. */
async function rawHttp1(
  proxyUrl: string,
  ca: string,
  path: string,
  authorization: string,
): Promise<{ status: number; text: string }> {
  const url = new URL(proxyUrl)
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: url.hostname, port: Number(url.port), ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] },
      () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`,
        )
      },
    )
    let text = ''
    socket.on('data', chunk => {
      text += String(chunk)
    })
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }))
    socket.on('error', reject)
  })
}

/** One HTTP/2 request with its :path exactly as written. */
async function rawHttp2(proxyUrl: string, ca: string, path: string, authorization: string): Promise<number> {
  const session = http2Connect(proxyUrl, { ca, servername: 'localhost' })
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':path': path, authorization })
      stream.on('response', headers => {
        resolve(Number(headers[':status']))
        stream.resume()
      })
      stream.on('error', reject)
      stream.end()
    })
  } finally {
    session.close()
  }
}
