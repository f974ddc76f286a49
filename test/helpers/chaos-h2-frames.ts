// Raw HTTP/2 for the chaos drill's frame-level misbehaviours (chaos-h2.ts): frames built by hand, a connection
// that notes the GOAWAY and RST_STREAM frames it receives, and frame sequences a server must refuse.
// @see https://www.rfc-editor.org/rfc/rfc9113#section-4.1 (frames), https://www.rfc-editor.org/rfc/rfc7541 (HPACK)
import { constants } from 'node:http2'
import type { TLSSocket } from 'node:tls'
import { observe, projectBody, tls, type ChaosContext, type Observed } from './chaos-clients.ts'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
}
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 }
const ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
]
const errorName = (code: number): string => ERROR_NAMES[code] ?? String(code)

/** A 9-byte frame header, then the payload; the header may declare another length than the payload has. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
  declaredLength = payload.length,
): Buffer {
  const header = Buffer.alloc(9)
  header.writeUIntBE(declaredLength, 0, 3)
  header[3] = type
  header[4] = flags
  header.writeUInt32BE(stream & 0x7fffffff, 5)
  return Buffer.concat([header, payload])
}

export const u32 = (...values: number[]): Buffer => {
  const bytes = Buffer.alloc(4 * values.length)
  values.forEach((value, index) => bytes.writeUInt32BE(value >>> 0, 4 * index))
  return bytes
}

export const settingsFrame = (pairs: Array<[number, number]> = []): Buffer =>
  frame(
    FRAME.SETTINGS,
    0,
    0,
    Buffer.concat(pairs.map(([id, value]) => Buffer.concat([Buffer.from([id >> 8, id & 0xff]), u32(value)]))),
  )

/** An HPACK string literal, not Huffman-coded: its length as a 7-bit-prefix integer, then the bytes. */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1')
  const length: number[] = []
  if (bytes.length < 127) length.push(bytes.length)
  else {
    length.push(127)
    let rest = bytes.length - 127
    for (; rest >= 128; rest >>= 7) length.push((rest & 0x7f) | 0x80)
    length.push(rest)
  }
  return Buffer.concat([Buffer.from(length), bytes])
}

/** A header block of literals without indexing, new names: no dynamic table to keep in step with. */
export const hpack = (headers: Record<string, string>): Buffer =>
  Buffer.concat(
    Object.entries(headers).flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]),
  )

/** A request's headers with the chaos login and the action's request id. */
export const rawHeaders = (ctx: ChaosContext, method: string, path: string): Record<string, string> => ({
  ':method': method,
  ':scheme': 'https',
  ':path': path,
  ':authority': 'localhost',
  authorization: ctx.target.authorization,
  'x-request-id': ctx.requestId,
  'content-type': 'application/json',
})

export interface RawH2 {
  socket: TLSSocket
  seen: Observed
  heard(): string
}

/** A raw connection (ALPN h2) past the preface and an empty SETTINGS (unless `preface` is false); ACKs the server's. */
export async function rawH2(ctx: ChaosContext, preface = true): Promise<RawH2> {
  const socket = await tls(ctx, 'h2')
  const seen = observe(socket)
  const heard: string[] = []
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3)
      const [type, flags] = [pending[3]!, pending[4]!]
      const payload = pending.subarray(9, 9 + length)
      if (type === FRAME.GOAWAY && length >= 8) heard.push(`GOAWAY ${errorName(payload.readUInt32BE(4))}`)
      if (type === FRAME.RST_STREAM && length >= 4) heard.push(`RST_STREAM ${errorName(payload.readUInt32BE(0))}`)
      if (type === FRAME.HEADERS) heard.push('HEADERS')
      if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0))
      pending = pending.subarray(9 + length)
    }
  })
  if (preface) socket.write(Buffer.concat([PREFACE, settingsFrame()]))
  return { socket, seen, heard: () => [...new Set(heard)].join(' ') || 'no frames of note' }
}

/** Waits until the server closes the connection, at most `ms`; then says what it sent of note. */
export async function rawUntilClosed(ctx: ChaosContext, raw: RawH2, ms: number): Promise<string> {
  await Promise.race([raw.seen.closed, ctx.scope.sleep(ms)])
  const closed = raw.seen.closedAfterMs()
  return `${raw.heard()}, ${closed === undefined ? 'still open' : `closed after ${Math.round(closed / 250) * 250} ms`}`
}

const ENDS = FLAG.END_HEADERS | FLAG.END_STREAM
const getOn = (ctx: ChaosContext, stream: number, path = '/api/v1/projects'): Buffer =>
  frame(FRAME.HEADERS, ENDS, stream, hpack(rawHeaders(ctx, 'GET', path)))

/** Frame sequences an HTTP/2 server must refuse (or survive), each bounded in size. */
export const VIOLATIONS: Record<string, (ctx: ChaosContext) => Buffer> = {
  'WINDOW_UPDATE of 0': () => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0)),
  'window past 2^31-1': () => Buffer.concat([0, 1].map(() => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)))),
  'SETTINGS_INITIAL_WINDOW_SIZE too big': () => settingsFrame([[4, 0x80000000]]),
  'SETTINGS_MAX_FRAME_SIZE too small': () => settingsFrame([[5, 100]]),
  'SETTINGS of odd length': () => frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5)),
  'DATA on stream 0': () => frame(FRAME.DATA, 0, 0, Buffer.from('{}')),
  'DATA on an idle stream': () => frame(FRAME.DATA, FLAG.END_STREAM, 7, Buffer.from('{}')),
  'HEADERS on an even stream': ctx => getOn(ctx, 2),
  'HEADERS with a bad HPACK index': () => frame(FRAME.HEADERS, ENDS, 1, Buffer.from([0xff, 0xff, 0xff, 0x7f])),
  'CONTINUATION without HEADERS': () => frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, Buffer.from([0x82])),
  'CONTINUATION flood (500 frames, no END_HEADERS)': ctx =>
    Buffer.concat([
      frame(FRAME.HEADERS, 0, 1, hpack(rawHeaders(ctx, 'GET', '/api/v1/projects'))),
      ...Array.from({ length: 500 }, () => frame(FRAME.CONTINUATION, 0, 1, hpack({ 'x-pad': 'p'.repeat(100) }))),
    ]),
  'rapid reset (200 streams opened and reset)': ctx =>
    Buffer.concat(
      Array.from({ length: 200 }, (_, i) => [
        getOn(ctx, 1 + 2 * i, '/api/v1/projects?limit=1'),
        frame(FRAME.RST_STREAM, 0, 1 + 2 * i, u32(constants.NGHTTP2_CANCEL)),
      ]).flat(),
    ),
  'PING flood (1000)': ctx =>
    Buffer.concat(Array.from({ length: 1000 }, () => frame(FRAME.PING, 0, 0, ctx.rng.bytes(8)))),
  'PING of the wrong length': () => frame(FRAME.PING, 0, 0, Buffer.alloc(5)),
  'SETTINGS flood (1000)': () => Buffer.concat(Array.from({ length: 1000 }, () => settingsFrame([[3, 100]]))),
  'PRIORITY depending on itself': () => frame(FRAME.PRIORITY, 0, 1, Buffer.concat([u32(1), Buffer.from([16])])),
  'stream ids going backwards': ctx => Buffer.concat([getOn(ctx, 5), getOn(ctx, 3)]),
  'RST_STREAM on stream 0': () => frame(FRAME.RST_STREAM, 0, 0, u32(constants.NGHTTP2_CANCEL)),
  'GOAWAY from the client, then a new stream': ctx =>
    Buffer.concat([frame(FRAME.GOAWAY, 0, 0, u32(0, 0)), getOn(ctx, 1)]),
  'request with a body over its content-length': ctx =>
    Buffer.concat([
      frame(
        FRAME.HEADERS,
        FLAG.END_HEADERS,
        1,
        hpack({
          ...rawHeaders(ctx, 'POST', '/api/v1/projects'),
          'content-length': '2',
        }),
      ),
      frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from(projectBody(ctx))),
    ]),
  'uppercase and connection-specific headers': ctx =>
    frame(
      FRAME.HEADERS,
      ENDS,
      1,
      hpack({
        ...rawHeaders(ctx, 'GET', '/api/v1/projects'),
        Connection: 'keep-alive',
        'transfer-encoding': 'chunked',
      }),
    ),
}
