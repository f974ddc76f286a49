// Attacks the edge proxy over real TLS with what a client can put on the wire: CR/LF in header values, oversized
// headers and URLs, invalid UTF-8 in paths, request smuggling shapes, half-sent requests, huge HTTP/2 header lists.
// Each gets a 4xx (or a protocol-level refusal) and never a 5xx, nothing reaches the API, and the proxy keeps serving.
import t, { type Test } from 'tap'
import { connect as http2Connect } from 'node:http2'
import { connect } from 'node:tls'
import { forEachBackend } from '../helpers/backends.ts'
import { basic, startEdgeStack, type EdgeStack, type Login } from '../helpers/edge-stack.ts'

interface RawAnswer {
  text: string
  status: number
  statuses: number[]
  closedAfterMs: number | undefined
}

/**
 * Writes `data` on a fresh HTTP/1.1-over-TLS connection and collects what comes back until the server closes it or
 * `waitMs` pass.
 */
async function raw(stack: EdgeStack, data: string | Buffer, waitMs = 3000): Promise<RawAnswer> {
  const url = new URL(stack.proxyUrl)
  return new Promise((resolve, reject) => {
    const started = Date.now()
    let text = ''
    const socket = connect(
      {
        host: url.hostname,
        port: Number(url.port),
        ca: stack.caCert,
        servername: 'localhost',
        ALPNProtocols: ['http/1.1'],
      },
      () => {
        socket.write(data)
      },
    )
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(match => Number(match[1]))
      resolve({ text, status: statuses[0] ?? 0, statuses, closedAfterMs: closed ? Date.now() - started : undefined })
    }
    const timer = setTimeout(() => finish(false), waitMs)
    socket.on('data', chunk => {
      text += chunk.toString('latin1')
    })
    socket.on('close', () => finish(true))
    socket.on('error', error => {
      if (text === '') reject(error)
    })
  })
}

const request = (login: Login, lines: string[], body = ''): string =>
  [...lines.slice(0, 1), 'Host: localhost', `Authorization: ${basic(login)}`, ...lines.slice(1)].join('\r\n') +
  '\r\n\r\n' +
  body

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend)
  const projectsOf = async (login: Login): Promise<number> =>
    (
      await backend.asOwner(s =>
        s.query<{ n: number }>('SELECT count(*)::int AS n FROM projects WHERE tenant_id = $1', [login.tenant.id]),
      )
    )[0]!.n
  const stillServes = async (t: Test, login: Login): Promise<void> => {
    for (const http2 of [true, false]) {
      t.equal(
        (await stack.request('/api/v1/projects', { as: login, http2 })).status,
        200,
        `the proxy still serves over HTTP/${http2 ? 2 : 1.1}`,
      )
    }
  }

  t.test(
    'CR or LF inside a header value, obs-fold and a space before the colon: 400 and the connection closed',
    async t => {
      const alice = await stack.addLogin()
      const shapes = {
        'bare CR': 'X-Note: a\rSet-Cookie: injected=1',
        'bare LF': 'X-Note: a\nSet-Cookie: injected=1',
        'obs-fold': 'X-Note: a\r\n Set-Cookie: injected=1',
        'space before the colon': 'Authorization : Basic Zm9vOmJhcg==',
        'NUL in a value': 'X-Note: a\u0000b',
      }
      for (const [what, header] of Object.entries(shapes)) {
        const answer = await raw(
          stack,
          request(
            alice,
            ['POST /api/v1/projects HTTP/1.1', header, 'Content-Type: application/json', 'Content-Length: 15'],
            '{"name":"nope"}',
          ),
        )
        t.same(answer.statuses, [400], `${what}: one 400`)
        t.match(answer.text, /^content-type: application\/problem\+json/im, `${what}: problem+json`)
        t.match(answer.text, /^strict-transport-security: max-age=\d+/im, `${what}: HSTS`)
        t.notMatch(answer.text.split('\r\n\r\n')[0]!, /^set-cookie:/im, `${what}: nothing injected into the answer`)
        t.ok(answer.closedAfterMs !== undefined, `${what}: connection closed`)
      }
      // Encoded CR/LF in the path or a request id is data, never a header.
      const encoded = await raw(
        stack,
        request(alice, [
          'GET /api/v1/projects/%0d%0aSet-Cookie:%20injected=1 HTTP/1.1',
          'X-Request-Id: a%0d%0aSet-Cookie:x',
          'Connection: close',
        ]),
      )
      t.equal(encoded.status, 400, 'an encoded CR/LF in the path is an invalid id')
      const head = encoded.text.split('\r\n\r\n')[0]!
      t.notMatch(head, /^set-cookie:/im, 'no Set-Cookie header')
      t.match(head, /^x-request-id: [0-9a-f-]{36}\r?$/im, 'an unsafe request id is replaced, not echoed')
      t.equal(await projectsOf(alice), 0, 'no refused request created anything')
      await stillServes(t, alice)
    },
  )

  t.test('oversized headers and URLs: 431 or 400, never a 5xx', async t => {
    const alice = await stack.addLogin()
    const cases: Array<[string, string[], number]> = [
      [
        'a 20 kB header value',
        ['GET /api/v1/projects HTTP/1.1', `X-Big: ${'a'.repeat(20_000)}`, 'Connection: close'],
        431,
      ],
      [
        '3000 headers',
        ['GET /api/v1/projects HTTP/1.1', ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`), 'Connection: close'],
        431,
      ],
      ['a 20 kB URL', [`GET /api/v1/projects?q=${'a'.repeat(20_000)} HTTP/1.1`, 'Connection: close'], 431],
      // Under Node's 16 kB header limit the URL reaches the API, whose schema refuses a 8000-character q.
      ['an 8 kB URL', [`GET /api/v1/projects?q=${'a'.repeat(8000)} HTTP/1.1`, 'Connection: close'], 400],
    ]
    for (const [what, lines, status] of cases) {
      const answer = await raw(stack, request(alice, lines))
      t.same(answer.statuses, [status], what)
      // Refused by Node's parser or by the API: either way a problem, under the edge's security headers.
      t.match(answer.text, /^content-type: application\/problem\+json/im, `${what}: problem+json`)
      t.match(answer.text, /^strict-transport-security: max-age=\d+/im, `${what}: HSTS`)
      t.match(answer.text, /^x-content-type-options: nosniff/im, `${what}: nosniff`)
    }
    await stillServes(t, alice)
  })

  t.test('invalid UTF-8 in paths and queries: 400, or read as U+FFFD where the API accepts any text', async t => {
    const alice = await stack.addLogin()
    const rawBytes = Buffer.concat([
      Buffer.from('GET /api/v1/projects/'),
      Buffer.from([0xff, 0xfe, 0xc0, 0xaf]),
      Buffer.from(` HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic(alice)}\r\nConnection: close\r\n\r\n`),
    ])
    t.same((await raw(stack, rawBytes)).statuses, [400], 'raw non-ASCII bytes in the request line')
    for (const path of ['/api/v1/projects/%ff%fe', '/api/v1/tasks/%c0%af', '/api/v1/projects/%ed%a0%80/tasks']) {
      const answer = await raw(stack, request(alice, [`GET ${path} HTTP/1.1`, 'Connection: close']))
      t.equal(answer.status, 400, path)
      t.match(answer.text, /application\/problem\+json/, `${path}: a problem`)
    }
    for (const http2 of [true, false]) {
      const response = await stack.request('/api/v1/projects?q=%ff%fe', { as: alice, http2 })
      t.same(
        { status: response.status, body: response.json() },
        { status: 200, body: { data: [], next: null } },
        'a search for U+FFFD finds nothing',
      )
    }
    await stillServes(t, alice)
  })

  t.test('request smuggling shapes over HTTP/1.1: 400, the connection closed, nothing smuggled through', async t => {
    const alice = await stack.addLogin()
    const smuggled = `GET /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basic(alice)}\r\n\r\n`
    const post = (headers: string[], body: string): string =>
      request(alice, ['POST /api/v1/projects HTTP/1.1', 'Content-Type: application/json', ...headers], body)
    const shapes: Record<string, string> = {
      'Content-Length and Transfer-Encoding': post(
        ['Content-Length: 5', 'Transfer-Encoding: chunked'],
        `0\r\n\r\n${smuggled}`,
      ),
      'Transfer-Encoding and Content-Length': post(
        ['Transfer-Encoding: chunked', 'Content-Length: 60'],
        `0\r\n\r\n${smuggled}`,
      ),
      'two different Content-Lengths': post(['Content-Length: 15', 'Content-Length: 2'], '{"name":"smug"}'),
      'an obfuscated Transfer-Encoding': post(['Transfer-Encoding : chunked'], `0\r\n\r\n${smuggled}`),
      'an unknown transfer coding': post(['Transfer-Encoding: xchunked'], `0\r\n\r\n${smuggled}`),
      'chunked not last': post(['Transfer-Encoding: chunked, identity'], `0\r\n\r\n${smuggled}`),
      'a chunk size that is not hex': post(
        ['Transfer-Encoding: chunked'],
        `zz\r\n{"name":"smug"}\r\n0\r\n\r\n${smuggled}`,
      ),
      'a signed Content-Length': post(['Content-Length: +15'], `{"name":"smug"}${smuggled}`),
    }
    for (const [what, data] of Object.entries(shapes)) {
      const answer = await raw(stack, data)
      t.same(answer.statuses, [400], `${what}: one 400, no second answer`)
      t.ok(answer.closedAfterMs !== undefined, `${what}: connection closed`)
    }
    t.equal(await projectsOf(alice), 0, 'no smuggled or half-read body created a project')
    await stillServes(t, alice)
  })

  t.test(
    'HTTP/2 header lists past the limits are refused at the protocol level, and new sessions still work',
    async t => {
      const alice = await stack.addLogin()
      const h2 = async (
        headers: Record<string, string | string[]>,
      ): Promise<{ status?: number; error?: string; ms: number }> => {
        // The client's own cap on what it sends (64 kB) is lifted: these must reach the proxy to test it.
        const session = http2Connect(stack.proxyUrl, {
          ca: stack.caCert,
          servername: 'localhost',
          maxSendHeaderBlockLength: 4 * 1024 * 1024,
        })
        session.on('error', () => {})
        const started = Date.now()
        try {
          return await new Promise(resolve => {
            const stream = session.request({ ':path': '/api/v1/projects', authorization: basic(alice), ...headers })
            stream.on('response', answer => {
              stream.resume()
              resolve({ status: Number(answer[':status']), ms: Date.now() - started })
            })
            stream.on('error', (error: Error) => resolve({ error: error.message, ms: Date.now() - started }))
            stream.end()
          })
        } finally {
          session.destroy()
        }
      }
      t.equal((await h2({})).status, 200)
      const many = await h2(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'v'])))
      t.match(many, { error: /ENHANCE_YOUR_CALM/ }, '200 header fields (Node allows 128): the stream is reset')
      // 90 kB once decoded though HPACK sends it small (the field is indexed once, then referenced); one 100 kB value.
      // The edge refuses them itself, as its HTTP/1.1 side does past 16 kB — even where the cache holds an answer.
      await stack.request('/api/v1/projects', { as: alice })
      for (const [what, big] of [
        ['90 kB of repeated fields', { 'x-a': Array.from({ length: 30 }, () => 'a'.repeat(3000)) }],
        ['a 100 kB value', { 'x-big': 'a'.repeat(100_000) }],
      ] as const) {
        t.match(await h2(big), { status: 431 }, what)
      }
      t.match(await h2({ 'x-fits': 'a'.repeat(12_000) }), { status: 200 }, '12 kB of headers still pass')
      // Not sent here: a 1 MB header block gets a GOAWAY, but the proxy's side of that session then lingers until its
      // 72 s idle timeout (and holds close() that long), which would stall this suite; reported, not yet fixed.
      await stillServes(t, alice)
    },
  )

  t.test('a request whose headers never finish is dropped within the connection timeout', async t => {
    const alice = await stack.addLogin()
    // proxy/app.ts sets a 60 s connection timeout; shortened here (it applies to connections made from now on).
    const server = stack.proxy.server as unknown as { timeout: number }
    t.equal(server.timeout, 60_000, 'the configured timeout')
    server.timeout = 1000
    t.teardown(() => {
      server.timeout = 60_000
    })
    const answer = await raw(
      stack,
      request(alice, ['GET /api/v1/projects HTTP/1.1', 'X-Partial: and then nothing']).replace(/\r\n\r\n$/, '\r\n'),
      8000,
    )
    t.ok(
      answer.closedAfterMs !== undefined && answer.closedAfterMs >= 900 && answer.closedAfterMs < 6000,
      `closed after ${answer.closedAfterMs} ms`,
    )
    t.notMatch(answer.text, /HTTP\/1\.1 5\d\d/, 'no 5xx on the way out')
    await stillServes(t, alice)
  })
})
