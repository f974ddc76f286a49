// The chaos drill's TLS, HTTP/1.1 and login misbehaviours (see chaos-clients.ts for what an action is). Those on
// raw HTTP/1.1 go to the edge over TLS, and one time in five straight to the API's own port in plain text: the
// API is a real process with its own parser and deadlines, and the edge is not its only possible client.
import type { Socket } from 'node:net'
import {
  agentFor,
  clientHello,
  describe,
  head,
  observe,
  projectBody,
  reset,
  sendAll,
  tcp,
  tls,
  untilClosed,
  type ChaosContext,
  type Misbehaviour,
} from './chaos-clients.ts'
import { trickle } from './slow-peers.ts'

/** A connection for raw HTTP/1.1: usually the edge over TLS, sometimes the API in plain text. */
async function h1(ctx: ChaosContext): Promise<Socket> {
  const toApi = ctx.rng.chance(0.2)
  ctx.note(toApi ? 'to the API directly' : 'to the edge')
  return toApi ? tcp(ctx, 'api') : tls(ctx, 'http/1.1')
}

/** After a misbehaviour: wait for the server to close (`stall`) or close first after a moment (`reset`). */
async function stallOrReset(ctx: ChaosContext, socket: Socket, seen: ReturnType<typeof observe>): Promise<string> {
  if (ctx.rng.chance(0.5)) {
    ctx.note('then stalls')
    return untilClosed(ctx, seen, ctx.target.requestTimeoutMs + 3000)
  }
  const afterMs = ctx.rng.int(ctx.target.requestTimeoutMs + 500)
  ctx.note(`then resets after ${afterMs} ms`)
  await Promise.race([seen.closed, ctx.scope.sleep(afterMs)])
  const outcome = describe(seen)
  reset(socket)
  return outcome
}

const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`
const CHUNKED = 'Transfer-Encoding: chunked'
/** The head of a create-project request, with these framing headers. */
const create = (ctx: ChaosContext, ...framing: string[]): string =>
  head(ctx, 'POST', '/api/v1/projects', ['Content-Type: application/json', ...framing])

/** Requests Node's parser (or the edge's checks) must refuse; each a function of the action (for its id). */
const MALFORMED: Record<string, (ctx: ChaosContext) => string | Buffer> = {
  'garbage request line': () => 'HELLO THERE\r\n\r\n',
  'Content-Length and Transfer-Encoding': ctx =>
    create(ctx, 'Content-Length: 5', CHUNKED) + '0\r\n\r\nGET /api/v1/projects HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'two Content-Lengths': ctx => create(ctx, 'Content-Length: 2', 'Content-Length: 40') + '{}',
  'negative Content-Length': ctx => create(ctx, 'Content-Length: -1') + '{}',
  'Content-Length not a number': ctx => create(ctx, 'Content-Length: 1e3') + '{}',
  'obs-fold header': ctx => head(ctx, 'GET', '/api/v1/projects', ['X-Folded: a', ' b']),
  'NUL in a header': ctx => head(ctx, 'GET', '/api/v1/projects', ['X-Nul: a\0b']),
  'bare LF line ends': ctx => head(ctx, 'GET', '/api/v1/projects').replaceAll('\r\n', '\n'),
  'headers over 16 KiB': ctx => head(ctx, 'GET', '/api/v1/projects', [`X-Big: ${'a'.repeat(20_000)}`]),
  'two thousand headers': ctx =>
    head(
      ctx,
      'GET',
      '/api/v1/projects',
      Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`),
    ),
  'request target over 64 KiB': ctx => head(ctx, 'GET', `/api/v1/projects?q=${'a'.repeat(70_000)}`),
  'invalid chunk size': ctx => create(ctx, CHUNKED) + 'zz\r\n{}\r\n0\r\n\r\n',
  'chunk extension flood': ctx => create(ctx, CHUNKED) + `2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
  'chunked, identity': ctx => create(ctx, 'Transfer-Encoding: chunked, identity') + chunk('{}') + '0\r\n\r\n',
  'HTTP/1.0 with Transfer-Encoding': ctx =>
    create(ctx, CHUNKED).replace('HTTP/1.1', 'HTTP/1.0') + chunk('{}') + '0\r\n\r\n',
  'absolute-form target': ctx => head(ctx, 'GET', 'http://elsewhere.example/api/v1/projects'),
  'space before the colon': ctx => head(ctx, 'POST', '/api/v1/projects', ['Content-Length : 2']) + '{}',
  'invalid method': ctx => head(ctx, 'G@T', '/api/v1/projects'),
  'HTTP/3.0': ctx => head(ctx, 'GET', '/api/v1/projects').replace('HTTP/1.1', 'HTTP/3.0'),
  'HTTP/2 preface on HTTP/1.1': () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'garbage after a valid request': ctx =>
    Buffer.concat([Buffer.from(head(ctx, 'GET', '/api/v1/projects?limit=1')), ctx.rng.bytes(ctx.rng.between(1, 4000))]),
  'random bytes': ctx => ctx.rng.bytes(ctx.rng.between(1, 4000)),
}

export const h1Misbehaviours: Record<string, Misbehaviour> = {
  async 'tcp: connect, then close or stay silent'(ctx) {
    const socket = await tcp(ctx)
    const seen = observe(socket)
    if (ctx.rng.chance(0.5)) {
      await ctx.scope.sleep(ctx.rng.int(300))
      reset(socket)
      return 'reset by the client'
    }
    return untilClosed(ctx, seen, ctx.target.requestTimeoutMs + 3000)
  },

  async 'tls: ClientHello cut short, then close or stall'(ctx) {
    const hello = await clientHello()
    const socket = await tcp(ctx)
    const seen = observe(socket)
    const sent = ctx.rng.between(1, hello.length - 1)
    ctx.note(`${sent} of ${hello.length} bytes`)
    socket.write(hello.subarray(0, sent))
    return stallOrReset(ctx, socket, seen)
  },

  async 'tls: abort mid-handshake, after the ServerHello'(ctx) {
    const hello = await clientHello()
    const socket = await tcp(ctx)
    const seen = observe(socket)
    socket.write(hello)
    await Promise.race([new Promise(resolve => socket.once('data', resolve)), ctx.scope.sleep(3000)])
    const outcome = seen.text() === '' ? 'no ServerHello' : 'ServerHello received'
    reset(socket)
    return outcome
  },

  async 'tls: garbage instead of a handshake'(ctx) {
    const socket = await tcp(ctx)
    const seen = observe(socket)
    socket.write(ctx.rng.bytes(ctx.rng.between(1, 3000)))
    return untilClosed(ctx, seen, 5000)
  },

  async 'h1: abort after the headers'(ctx) {
    const socket = await h1(ctx)
    const post = ctx.rng.chance(0.7)
    socket.write(post ? create(ctx, 'Content-Length: 200') : head(ctx, 'GET', '/api/v1/projects?limit=20'))
    const afterMs = ctx.rng.int(300)
    ctx.note(`${post ? 'POST' : 'GET'}, reset after ${afterMs} ms`)
    await ctx.scope.sleep(afterMs)
    reset(socket)
    return 'reset by the client'
  },

  async 'h1: body shorter than its Content-Length'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const body = projectBody(ctx)
    const declared = body.length + ctx.rng.between(1, 2000)
    const sent = ctx.rng.int(body.length + 1)
    ctx.note(`${sent} of ${declared} bytes`)
    socket.write(create(ctx, `Content-Length: ${declared}`) + body.slice(0, sent))
    return stallOrReset(ctx, socket, seen)
  },

  async 'h1: chunked body never terminated'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const body = projectBody(ctx)
    const cut = ctx.rng.int(body.length + 1)
    const whole = ctx.rng.chance(0.5)
    ctx.note(whole ? 'the whole JSON, no last chunk' : `${cut} bytes of the JSON`)
    socket.write(create(ctx, CHUNKED) + chunk(whole ? body : body.slice(0, cut) || ' '))
    return stallOrReset(ctx, socket, seen)
  },

  async 'h1: abort mid-response'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    socket.write(head(ctx, 'GET', ctx.rng.pick(['/api/v1/projects?limit=100', '/docs/json'])))
    await Promise.race([new Promise(resolve => socket.once('data', resolve)), seen.closed, ctx.scope.sleep(5000)])
    const outcome = describe(seen)
    reset(socket)
    return outcome
  },

  async 'h1: pipelined requests, responses never read'(ctx) {
    const socket = await h1(ctx)
    const count = ctx.rng.between(5, 40)
    ctx.note(`${count} requests`)
    socket.write(Array.from({ length: count }, () => head(ctx, 'GET', '/api/v1/projects?limit=100')).join(''))
    socket.pause()
    const closed = new Promise(resolve => socket.once('close', resolve))
    await Promise.race([closed, ctx.scope.sleep(ctx.target.requestTimeoutMs + ctx.rng.int(2000))])
    reset(socket)
    return 'gave up reading'
  },

  async 'h1: slowloris headers'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    socket.write(`GET /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: ${ctx.requestId}\r\n`)
    trickle(socket, 'X-Slow: yes\r\n', ctx.rng.between(50, 400))
    return untilClosed(ctx, seen, ctx.target.requestTimeoutMs + 3000)
  },

  async 'h1: body trickled in'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const body = projectBody(ctx)
    socket.write(create(ctx, `Content-Length: ${body.length + 5000}`) + body.slice(0, -1))
    trickle(socket, ' ', ctx.rng.between(50, 400))
    return untilClosed(ctx, seen, ctx.target.requestTimeoutMs + 3000)
  },

  async 'h1: oversized body with Content-Length'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const declared = ctx.target.bodyLimitBytes * ctx.rng.between(2, 64)
    const sent = Math.min(declared, ctx.rng.pick([0, 1000, 64 * 1024]))
    ctx.note(`declares ${declared}, sends ${sent}`)
    socket.write(create(ctx, `Content-Length: ${declared}`))
    if (sent > 0) socket.write(Buffer.alloc(sent, 'a'))
    return untilClosed(ctx, seen, 5000)
  },

  async 'h1: oversized chunked body'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const total = ctx.target.bodyLimitBytes * ctx.rng.between(2, 8)
    const finish = ctx.rng.chance(0.5)
    ctx.note(`${total} bytes${finish ? ', then the last chunk' : ', never finished'}`)
    socket.write(create(ctx, CHUNKED))
    for (let sent = 0; sent < total && !socket.destroyed; sent += 4096) socket.write(chunk('a'.repeat(4096)))
    if (finish && !socket.destroyed) socket.write('0\r\n\r\n')
    return untilClosed(ctx, seen, 5000)
  },

  async 'h1: malformed framing'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    const name = ctx.rng.pick(Object.keys(MALFORMED))
    ctx.note(name)
    socket.write(MALFORMED[name]!(ctx))
    return untilClosed(ctx, seen, 5000)
  },

  async 'h1: idle after one request'(ctx) {
    const socket = await h1(ctx)
    const seen = observe(socket)
    socket.write(head(ctx, 'GET', '/api/v1/projects?limit=1'))
    return untilClosed(ctx, seen, ctx.target.requestTimeoutMs + 5000)
  },

  async 'login: wrong passwords, unknown logins, bad credentials'(ctx) {
    const h2 = ctx.rng.chance(0.5)
    const count = ctx.rng.between(3, 20)
    ctx.note(`${count} over ${h2 ? 'HTTP/2' : 'HTTP/1.1'}`)
    const credentials = (): string =>
      ctx.rng.pick([
        `Basic ${Buffer.from(`${ctx.target.burstLogin}:wrong-${ctx.rng.int(1e6)}`).toString('base64')}`,
        `Basic ${Buffer.from(`nobody${ctx.rng.int(100)}@acme:secret`).toString('base64')}`,
        `Basic ${Buffer.from('no-colon-at-all').toString('base64')}`,
        'Basic !!!not-base64!!!',
        'Bearer abc.def.ghi',
        '',
      ])
    const requests = Array.from({ length: count }, () => ({
      method: 'GET',
      path: '/api/v1/projects?limit=1',
      authorization: credentials(),
    }))
    return sendAll(ctx, agentFor(ctx, h2), requests)
  },

  async 'valid: writes and reads of the chaos login'(ctx) {
    const h2 = ctx.rng.chance(0.5)
    ctx.note(h2 ? 'HTTP/2' : 'HTTP/1.1')
    const authorization = ctx.target.authorization
    const graphql = JSON.stringify({ query: '{ projects(first: 5) { nodes { id name } } }' })
    return sendAll(ctx, agentFor(ctx, h2), [
      { method: 'POST', path: '/api/v1/projects', authorization, body: projectBody(ctx) },
      { method: 'GET', path: '/api/v1/projects?limit=10', authorization },
      { method: 'POST', path: '/graphql', authorization, body: graphql },
      { method: 'GET', path: `/api/v1/projects?limit=${ctx.rng.between(1, 50)}`, authorization },
    ])
  },
}
