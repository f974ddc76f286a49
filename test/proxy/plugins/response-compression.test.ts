// Negotiated response compression at the edge, over real TLS, HTTP/2 and HTTP/1.1, with undici, Node's fetch
// and http2 clients and curl --compressed: what each Accept-Encoding gets, and every response left uncoded.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { Agent } from 'undici'
import { basic } from '../../helpers/edge-stack.ts'
import { decode, PAGE, pageResponder } from '../../helpers/compression.ts'
import { startScriptedStack } from '../../helpers/scripted-upstream.ts'

const run = promisify(execFile)

t.test('each coding as asked, over HTTP/2 and HTTP/1.1, forwarded and cached alike', async t => {
  const stack = await startScriptedStack(t)
  const [alice] = stack.logins
  const cases: Array<[string, string | undefined]> = [
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['zstd', 'zstd'],
    ['gzip, deflate, br, zstd', 'zstd'],
    ['br;q=0.9, gzip', 'gzip'],
    ['identity', undefined],
    ['gzip;q=0, identity', undefined],
    ['deflate', undefined],
  ]
  for (const cacheControl of ['no-store', 's-maxage=60']) {
    stack.respond(pageResponder(cacheControl))
    for (const http2 of [true, false]) {
      for (const [accept, expected] of cases) {
        const what = `${cacheControl}, HTTP/${http2 ? 2 : 1.1}, Accept-Encoding: ${accept}`
        const response = await stack.request(`/api/v1/projects?cc=${cacheControl}`, {
          as: alice,
          http2,
          headers: { 'accept-encoding': accept },
        })
        t.equal(response.status, 200, what)
        t.equal(response.headers['content-encoding'], expected, what)
        t.same(decode(response.headers['content-encoding'], response.bytes), PAGE, `${what}: the same body`)
        t.equal(
          Number(response.headers['content-length']),
          response.bytes.length,
          `${what}: its length is the coded length`,
        )
        t.match(response.headers.vary, /X-Gatehouse-Tenant, Accept-Encoding/i, `${what}: Vary`)
        t.equal(
          response.headers.etag,
          expected === undefined ? `"page-${alice!.tenant.slug}"` : `W/"page-${alice!.tenant.slug}"`,
          `${what}: ETag`,
        )
      }
    }
  }
  const plain = await stack.request('/api/v1/projects?cc=no-store', { as: alice })
  t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: nothing coded')
  t.match(plain.headers.vary, /Accept-Encoding/, 'yet the response says it varies')
})

t.test('responses that are never coded', async t => {
  const stack = await startScriptedStack(t)
  const [alice] = stack.logins
  stack.respond((request, response) => {
    const kind = new URL(request.url!, 'http://x').searchParams.get('kind')
    const json = { 'content-type': 'application/json', 'cache-control': 'no-store' }
    switch (kind) {
      case 'small':
        response.writeHead(200, { ...json, 'content-length': 14 })
        response.end('{"small":true}')
        return
      case 'png':
        response.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' })
        response.end(Buffer.alloc(4000, 7))
        return
      case 'no-content':
        response.writeHead(204, { 'cache-control': 'no-store' })
        response.end()
        return
      case 'not-modified':
        response.writeHead(304, { etag: '"x"', 'cache-control': 'no-store' })
        response.end()
        return
      case 'no-transform':
        response.writeHead(200, { ...json, 'cache-control': 'no-store, no-transform' })
        response.end(PAGE)
        return
      case 'coded':
        response.writeHead(200, { ...json, 'content-encoding': 'gzip' })
        response.end(Buffer.from('not really gzip, and left alone'))
        return
      case 'range':
        response.writeHead(206, { ...json, 'content-range': `bytes 0-1999/${PAGE.length}` })
        response.end(PAGE.subarray(0, 2000))
        return
      default:
        response.writeHead(200, json)
        response.end(PAGE)
    }
  })
  const gzip = { 'accept-encoding': 'gzip, br, zstd' }
  const cases: Array<[string, string, Record<string, string>, number, RegExp | undefined]> = [
    ['a body under COMPRESSION_MIN_BYTES', 'GET', {}, 200, undefined],
    ['an already-compressed type', 'GET', {}, 200, undefined],
    ['204', 'GET', {}, 204, undefined],
    ['304', 'GET', {}, 304, undefined],
    ['Cache-Control: no-transform from the API', 'GET', {}, 200, undefined],
    ['a body the API coded itself', 'GET', {}, 200, undefined],
    ['a partial response', 'GET', { range: 'bytes=0-1999' }, 206, undefined],
    ['HEAD', 'HEAD', {}, 200, /Accept-Encoding/],
    ['Cache-Control: no-transform from the client', 'GET', { 'cache-control': 'no-transform' }, 200, /Accept-Encoding/],
    ['a Range request answered in full', 'GET', { range: 'bytes=0-10' }, 200, /Accept-Encoding/],
  ]
  const kinds = ['small', 'png', 'no-content', 'not-modified', 'no-transform', 'coded', 'range', 'page', 'page', 'page']
  for (const [index, [name, method, headers, status, vary]] of cases.entries()) {
    for (const http2 of [true, false]) {
      const response = await stack.request(`/api/v1/things?kind=${kinds[index]}`, {
        as: alice,
        method,
        http2,
        headers: { ...gzip, ...headers },
      })
      t.equal(response.status, status, `${name} (HTTP/${http2 ? 2 : 1.1})`)
      const expected = kinds[index] === 'coded' ? 'gzip' : undefined
      t.equal(response.headers['content-encoding'], expected, `${name}: not coded by the edge`)
      if (vary !== undefined) t.match(response.headers.vary, vary, `${name}: the full GET would be, so it varies`)
      else t.notMatch(String(response.headers.vary), /Accept-Encoding/i, `${name}: no Vary of ours`)
    }
  }
  const problem = await stack.request('/api/v1/things', { headers: gzip })
  t.equal(problem.status, 401)
  t.equal(problem.headers['content-encoding'], undefined, "the edge's own small problem+json answers stay uncoded")
})

t.test('a streamed response (no Content-Length) is coded as it streams', async t => {
  const stack = await startScriptedStack(t)
  const [alice] = stack.logins
  const big = Buffer.concat(Array.from({ length: 40 }, () => PAGE))
  stack.respond((request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    response.write(big.subarray(0, 50_000))
    setImmediate(() => response.end(big.subarray(50_000)))
  })
  for (const coding of ['gzip', 'br', 'zstd']) {
    const response = await stack.request('/api/v1/export', { as: alice, headers: { 'accept-encoding': coding } })
    t.equal(response.headers['content-encoding'], coding)
    t.equal(response.headers['content-length'], undefined)
    t.ok(decode(coding, response.bytes).equals(big), `${coding}: the whole body`)
    t.ok(response.bytes.length < big.length / 10, `${coding}: ${response.bytes.length} bytes for ${big.length}`)
  }
})

t.test("Node's own clients: fetch decodes by itself, http2 with zlib", async t => {
  const stack = await startScriptedStack(t)
  stack.respond(pageResponder())
  const [alice] = stack.logins
  const { proxyUrl } = stack
  const ca = readFileSync(stack.caCertPath, 'utf8')
  const dispatcher = new Agent({ connect: { ca, servername: 'localhost' }, allowH2: true })
  t.teardown(() => dispatcher.close())
  const fetched = await fetch(`${proxyUrl}/api/v1/projects`, {
    headers: { authorization: basic(alice!), 'accept-encoding': 'gzip' },
    dispatcher,
  } as RequestInit)
  t.equal(fetched.headers.get('content-encoding'), 'gzip')
  t.same(Buffer.from(await fetched.arrayBuffer()), PAGE, 'fetch decoded it')

  const session = http2Connect(proxyUrl, { ca, servername: 'localhost' })
  t.teardown(() => session.close())
  const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const stream = session.request({
      ':path': '/api/v1/projects',
      authorization: basic(alice!),
      'accept-encoding': 'br',
    })
    const chunks: Buffer[] = []
    let headers: Record<string, unknown> = {}
    stream.on('response', received => {
      headers = received
    })
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => resolve({ headers, body: Buffer.concat(chunks) }))
    stream.on('error', reject)
    stream.end()
  })
  t.equal(headers['content-encoding'], 'br')
  t.same(decode('br', body), PAGE)
})

const hasCurl = ((): boolean => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

t.test('curl --compressed over HTTP/2 and HTTP/1.1', { skip: hasCurl ? false : 'curl is not installed' }, async t => {
  const stack = await startScriptedStack(t)
  stack.respond(pageResponder())
  const [alice] = stack.logins
  const port = new URL(stack.proxyUrl).port
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-curl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ca = stack.caCertPath
  for (const protocol of ['--http2', '--http1.1']) {
    for (const round of ['miss or hit', 'hit']) {
      const headerFile = join(dir, `headers${protocol}`)
      writeFileSync(headerFile, '')
      const { stdout } = await run(
        'curl',
        [
          '-sS',
          protocol,
          '--compressed',
          '--cacert',
          ca,
          '-u',
          `${alice!.login}:${alice!.password}`,
          '-D',
          headerFile,
          `https://localhost:${port}/api/v1/projects`,
        ],
        { encoding: 'buffer', maxBuffer: 1 << 20 },
      )
      const headers = readFileSync(headerFile, 'utf8').toLowerCase()
      t.match(
        headers,
        /^content-encoding: zstd\r?$/m,
        `${protocol} ${round}: curl offers deflate, gzip, br, zstd; the edge prefers zstd`,
      )
      t.match(headers, /^vary: .*accept-encoding/m)
      t.same(stdout, PAGE, `${protocol} ${round}: curl decoded it to the page`)
    }
  }
})
