// The chaos drill's HTTP/2 misbehaviours (see chaos-clients.ts for what an action is): through node:http2 where a
// well-formed client misbehaves (bodies never finished, resets, unread responses), and raw frames over TLS where
// the frames themselves are wrong (too long, out of order, garbage, floods of a bounded size).
import { connect as connectHttp2, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { connect as connectTls, type TLSSocket } from 'node:tls'
import { projectBody, tlsOptions, type ChaosContext, type Misbehaviour } from './chaos-clients.ts'
import {
  FLAG,
  FRAME,
  frame,
  hpack,
  PREFACE,
  rawH2,
  rawHeaders,
  rawUntilClosed,
  settingsFrame,
  u32,
  VIOLATIONS,
} from './chaos-h2-frames.ts'
import { trickle } from './slow-peers.ts'

/** The TLS socket under each session: node:http2 refuses destroy() on the proxy `session.socket` gives. */
const socketOf = new WeakMap<ClientHttp2Session, TLSSocket>()

/** A node:http2 session to the edge from the action's address, tracked by the scope; resolves once connected. */
async function session(ctx: ChaosContext, settings: { initialWindowSize?: number } = {}): Promise<ClientHttp2Session> {
  let socket: TLSSocket | undefined
  const client = ctx.scope.track(
    connectHttp2(`https://localhost:${ctx.target.edgePort}`, {
      settings,
      createConnection: () =>
        (socket = connectTls(tlsOptions(ctx, 'h2')).once('connect', () => ctx.connected(socket!))),
    }),
  )
  if (socket !== undefined) socketOf.set(client, socket)
  client.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('close', () => reject(new Error('closed before connecting')))
  })
  return client
}

/** What happened to one stream: its status, or how it ended without one. */
function watch(stream: ClientHttp2Stream): { outcome(): string; settled: Promise<void> } {
  let status: string | undefined
  stream.on('error', () => {})
  stream.on('response', headers => {
    status = String(headers[':status'])
  })
  const settled = new Promise<void>(resolve => {
    stream.once('response', () => resolve())
    stream.once('close', () => resolve())
  })
  return { outcome: () => status ?? (stream.closed ? `reset ${stream.rstCode}` : 'no answer'), settled }
}

const get = (ctx: ChaosContext, path = '/api/v1/projects?limit=100'): Record<string, string> => ({
  ':path': path,
  authorization: ctx.target.authorization,
  'x-request-id': ctx.requestId,
})
const post = (ctx: ChaosContext, extra: Record<string, string> = {}): Record<string, string> => ({
  ...get(ctx, '/api/v1/projects'),
  ':method': 'POST',
  'content-type': 'application/json',
  ...extra,
})

const ENDINGS = ['closes the session', 'resets the stream', 'destroys the socket', 'sends more, then ends'] as const

/** Frame types sent longer than SETTINGS_MAX_FRAME_SIZE (an unknown type too: its length is checked all the same). */
const OVERSIZED = [
  ['DATA', FRAME.DATA],
  ['HEADERS', FRAME.HEADERS],
  ['PING', FRAME.PING],
  ['SETTINGS', FRAME.SETTINGS],
  ['unknown', 0x20],
] as const

const RESET_CODES = {
  CANCEL: constants.NGHTTP2_CANCEL,
  INTERNAL_ERROR: constants.NGHTTP2_INTERNAL_ERROR,
  NO_ERROR: constants.NGHTTP2_NO_ERROR,
  ENHANCE_YOUR_CALM: constants.NGHTTP2_ENHANCE_YOUR_CALM,
}

export const h2Misbehaviours: Record<string, Misbehaviour> = {
  // The known crash: the edge's request deadline fires while the API still waits for the rest of the body.
  async 'h2: JSON body never finished (no END_STREAM), held past the deadline'(ctx) {
    const client = await session(ctx)
    const body = projectBody(ctx)
    const shape = ctx.rng.pick(['whole JSON', 'part of the JSON', 'no DATA at all'] as const)
    const declared = ctx.rng.pick([undefined, body.length, body.length + 1000])
    const ending = ctx.rng.pick(ENDINGS)
    // With no traffic, the session's idle timeout (KEEP_ALIVE_TIMEOUT_MS) races the request deadline; a session kept
    // busy always meets the deadline.
    const busy = ctx.rng.pick(['PINGs', 'GETs on other streams', 'nothing else'] as const)
    ctx.note(`${shape}, content-length ${declared ?? 'absent'}, ${busy} meanwhile, ${ending}`)
    const stream = client.request(post(ctx, declared !== undefined ? { 'content-length': String(declared) } : {}))
    const seen = watch(stream)
    if (shape === 'whole JSON') stream.write(body)
    if (shape === 'part of the JSON') stream.write(body.slice(0, ctx.rng.int(body.length)))
    const keepBusy = setInterval(() => {
      if (client.closed || client.destroyed) return
      if (busy === 'PINGs') client.ping(() => {})
      if (busy === 'GETs on other streams') {
        client
          .request(get(ctx, '/api/v1/projects?limit=1'))
          .on('error', () => {})
          .resume()
      }
    }, 500)
    await Promise.race([seen.settled, ctx.scope.sleep(ctx.target.requestTimeoutMs + 3000)])
    await ctx.scope.sleep(ctx.rng.int(1000))
    clearInterval(keepBusy)
    const outcome = seen.outcome()
    if (ending === 'closes the session') client.close()
    else if (ending === 'resets the stream') stream.close(constants.NGHTTP2_CANCEL)
    else if (ending === 'destroys the socket') socketOf.get(client)?.destroy()
    else if (!stream.destroyed) {
      stream.write(' more ')
      stream.end()
    }
    await ctx.scope.sleep(200)
    return outcome
  },

  async 'h2: RST_STREAM at a random moment'(ctx) {
    const client = await session(ctx)
    const [name, code] = ctx.rng.pick(Object.entries(RESET_CODES))
    const moment = ctx.rng.pick(['at once', 'after a moment', 'on the response headers', 'mid-body'] as const)
    const streams = ctx.rng.between(1, 8)
    ctx.note(`${streams} streams, ${name} ${moment}`)
    const outcomes = await Promise.all(
      Array.from({ length: streams }, async () => {
        const writes = ctx.rng.chance(0.5)
        const stream = client.request(writes ? post(ctx) : get(ctx))
        const seen = watch(stream)
        if (writes) stream.write(projectBody(ctx).slice(0, 10))
        if (moment === 'after a moment') await ctx.scope.sleep(ctx.rng.int(1500))
        if (moment === 'on the response headers' || moment === 'mid-body') {
          await Promise.race([seen.settled, ctx.scope.sleep(5000)])
        }
        if (moment === 'mid-body') {
          await Promise.race([new Promise(resolve => stream.once('data', resolve)), ctx.scope.sleep(2000)])
        }
        if (!stream.closed) stream.close(code)
        return seen.outcome()
      }),
    )
    return outcomes.join(',')
  },

  async 'h2: socket destroyed under open streams'(ctx) {
    const client = await session(ctx)
    const streams = ctx.rng.between(1, 10)
    const afterMs = ctx.rng.int(600)
    ctx.note(`${streams} streams, destroyed after ${afterMs} ms`)
    for (let i = 0; i < streams; i++) {
      const kind = ctx.rng.int(3)
      const stream = client.request(kind === 0 ? get(ctx) : post(ctx))
      stream.on('error', () => {})
      if (kind === 1) stream.end(projectBody(ctx))
      if (kind === 2) stream.write(projectBody(ctx).slice(0, 5))
    }
    await ctx.scope.sleep(afterMs)
    socketOf.get(client)?.destroy()
    return 'destroyed by the client'
  },

  async 'h2: responses never read'(ctx) {
    const zeroWindow = ctx.rng.chance(0.5)
    const client = await session(ctx, zeroWindow ? { initialWindowSize: 0 } : {})
    const streams = ctx.rng.between(1, 10)
    ctx.note(`${streams} streams${zeroWindow ? ', flow-control window 0' : ', paused'}`)
    for (let i = 0; i < streams; i++) {
      const stream = client.request(get(ctx))
      stream.on('error', () => {})
      stream.pause()
    }
    const closed = new Promise(resolve => client.once('close', resolve))
    await Promise.race([closed, ctx.scope.sleep(ctx.target.requestTimeoutMs + ctx.rng.int(3000))])
    return client.closed ? 'closed by the edge' : 'gave up reading'
  },

  async 'h2: oversized body'(ctx) {
    const client = await session(ctx)
    const total = ctx.target.bodyLimitBytes * ctx.rng.between(2, 8)
    const declare = ctx.rng.chance(0.5)
    const finish = ctx.rng.chance(0.5)
    ctx.note(`${total} bytes, content-length ${declare ? 'declared' : 'absent'}, ${finish ? 'ended' : 'never ended'}`)
    const stream = client.request(post(ctx, declare ? { 'content-length': String(total) } : {}))
    const seen = watch(stream)
    for (let sent = 0; sent < total && !stream.destroyed; sent += 4096) stream.write(Buffer.alloc(4096, 'a'))
    if (finish && !stream.destroyed) stream.end()
    await Promise.race([seen.settled, ctx.scope.sleep(ctx.target.requestTimeoutMs + 3000)])
    return seen.outcome()
  },

  async 'h2: body trickled in'(ctx) {
    const client = await session(ctx)
    const stream = client.request(post(ctx))
    const seen = watch(stream)
    stream.write(projectBody(ctx).slice(0, -1))
    const everyMs = ctx.rng.between(50, 400)
    const timer = setInterval(() => {
      if (stream.writable && !ctx.scope.closed) stream.write(' ')
    }, everyMs)
    await Promise.race([seen.settled, ctx.scope.sleep(ctx.target.requestTimeoutMs + 3000)])
    clearInterval(timer)
    return seen.outcome()
  },

  async 'h2 frames: frame longer than SETTINGS_MAX_FRAME_SIZE'(ctx) {
    const raw = await rawH2(ctx)
    const declared = ctx.rng.pick([16_385, 65_536, 1_000_000, 0xffffff])
    const [kind, type] = ctx.rng.pick(OVERSIZED)
    const sent = Math.min(declared, ctx.rng.pick([0, 100, 70_000]))
    ctx.note(`${kind} declaring ${declared} bytes, ${sent} sent`)
    const stream = type === FRAME.PING || type === FRAME.SETTINGS ? 0 : 1 // connection-level frames on stream 0
    raw.socket.write(frame(type, 0, stream, Buffer.alloc(sent), declared))
    return rawUntilClosed(ctx, raw, 5000)
  },

  async 'h2 frames: garbage after the preface'(ctx) {
    const raw = await rawH2(ctx, false)
    const bytes = ctx.rng.bytes(ctx.rng.between(1, 5000))
    raw.socket.write(Buffer.concat([PREFACE, ctx.rng.chance(0.5) ? settingsFrame() : Buffer.alloc(0), bytes]))
    return rawUntilClosed(ctx, raw, 5000)
  },

  async 'h2 frames: no preface'(ctx) {
    const raw = await rawH2(ctx, false)
    const what = ctx.rng.pick(['an HTTP/1.1 request', 'random bytes', 'half a preface'] as const)
    ctx.note(what)
    raw.socket.write(
      what === 'an HTTP/1.1 request'
        ? `GET /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${ctx.target.authorization}\r\n\r\n`
        : what === 'random bytes'
          ? ctx.rng.bytes(ctx.rng.between(1, 2000))
          : PREFACE.subarray(0, 12),
    )
    return rawUntilClosed(ctx, raw, ctx.target.requestTimeoutMs + 3000)
  },

  async 'h2 frames: protocol violations'(ctx) {
    const raw = await rawH2(ctx)
    const name = ctx.rng.pick(Object.keys(VIOLATIONS))
    ctx.note(name)
    raw.socket.write(VIOLATIONS[name]!(ctx))
    return rawUntilClosed(ctx, raw, 5000)
  },

  async 'h2 frames: DATA without END_STREAM, then stall or RST_STREAM'(ctx) {
    const raw = await rawH2(ctx)
    const body = projectBody(ctx)
    const declared = ctx.rng.chance(0.5)
    const headers = rawHeaders(ctx, 'POST', '/api/v1/projects')
    if (declared) headers['content-length'] = String(body.length + 100)
    raw.socket.write(
      Buffer.concat([
        frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, hpack(headers)),
        frame(FRAME.DATA, 0, 1, Buffer.from(ctx.rng.chance(0.5) ? body : body.slice(0, ctx.rng.int(body.length)))),
      ]),
    )
    const ending = ctx.rng.pick(['stalls', 'RST_STREAM', 'GOAWAY', 'destroys the socket'] as const)
    const deadline = ctx.target.requestTimeoutMs
    const afterMs = ending === 'stalls' ? deadline + 3000 : ctx.rng.int(deadline + 1500)
    ctx.note(`content-length ${declared ? 'declared' : 'absent'}, ${ending} after ${afterMs} ms`)
    await Promise.race([raw.seen.closed, ctx.scope.sleep(afterMs)])
    if (ending === 'RST_STREAM') raw.socket.write(frame(FRAME.RST_STREAM, 0, 1, u32(constants.NGHTTP2_CANCEL)))
    if (ending === 'GOAWAY') raw.socket.write(frame(FRAME.GOAWAY, 0, 0, u32(0, constants.NGHTTP2_NO_ERROR)))
    if (ending === 'destroys the socket') raw.socket.destroy()
    return rawUntilClosed(ctx, raw, ending === 'stalls' ? 0 : 1000)
  },

  async 'h2 frames: HEADERS trickled (slowloris)'(ctx) {
    const raw = await rawH2(ctx)
    // A HEADERS frame announcing 16 KiB, whose bytes then come one at a time.
    raw.socket.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.alloc(0), 0x4000))
    trickle(raw.socket, '\x00', ctx.rng.between(50, 400))
    return rawUntilClosed(ctx, raw, ctx.target.requestTimeoutMs + 3000)
  },
}
