// What the chaos drill's misbehaving clients are made of (the misbehaviours: chaos-h1.ts, chaos-h2.ts): a seeded
// PRNG, a scope that owns every socket an action opens, connections and what came back on them. An action is
// bounded in time by its own waits and by the runner's cap, and connects to 127.0.0.1 only — from a loopback
// alias of its own (127.0.x.y, never 127.0.0.1, the well-behaved client's), so per-address budgets it spends
// never reach that client.
import { connect as connectTcp, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { Agent, buildConnector, request } from 'undici'

/** mulberry32: small, fast, good enough to pick misbehaviours; the same seed gives the same choices. */
export class Rng {
  #state: number
  constructor(seed: number) {
    this.#state = seed >>> 0
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let x = this.#state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }

  /** A whole number from 0 to n - 1. */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)))
  }
}

/** What one action owns: destroyed together when it ends or runs past its cap. */
export class Scope {
  closed = false
  readonly #closers: Array<() => void> = []
  readonly #wakers = new Set<() => void>()

  track<T extends { destroy(): unknown }>(resource: T): T {
    if (this.closed) resource.destroy()
    else this.#closers.push(() => resource.destroy())
    return resource
  }

  /** Waits `ms`, or less if the scope closes first. */
  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise(resolve => {
      const wake = (): void => {
        clearTimeout(timer)
        this.#wakers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#wakers.add(wake)
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const close of this.#closers.splice(0)) close()
    for (const wake of [...this.#wakers]) wake()
  }
}

export interface ChaosTarget {
  /** The edge's HTTPS port and the API's HTTP port, both on 127.0.0.1. */
  edgePort: number
  apiPort: number
  ca: string
  /** Basic credentials of the chaos login (valid; its tenant is not the well-behaved client's). */
  authorization: string
  /** A login that exists, for wrong-password bursts: any per-login lockout lands on it, not on the chaos login. */
  burstLogin: string
  bodyLimitBytes: number
  /** The edge's whole-request deadline: an action waiting for the edge to give up waits a little longer. */
  requestTimeoutMs: number
}

export interface ChaosContext {
  rng: Rng
  target: ChaosTarget
  scope: Scope
  /** Sent as X-Request-Id where a request is made: the edge's log lines for it carry this id. */
  requestId: string
  /** The loopback address this action connects from. */
  source: string
  /** Records which variant was chosen (shown when the drill fails). */
  note(text: string): void
  /** Records a connection's local end (address:port), so a connection the edge keeps open names its action. */
  connected(socket: Socket): void
}

/** One misbehaviour; resolves with a short outcome (e.g. "413, closed after 12 ms"). */
export type Misbehaviour = (ctx: ChaosContext) => Promise<string>

export const sourceAddress = (rng: Rng): string => `127.0.${rng.between(1, 4)}.${rng.between(1, 250)}`

/** A TCP connection to the edge (or the API), tracked by the scope; resolves once connected. */
export async function tcp(ctx: ChaosContext, to: 'edge' | 'api' = 'edge'): Promise<Socket> {
  const port = to === 'edge' ? ctx.target.edgePort : ctx.target.apiPort
  const socket = ctx.scope.track(connectTcp({ host: '127.0.0.1', port, localAddress: ctx.source }))
  socket.on('error', () => {})
  await settle(socket, 'connect')
  ctx.connected(socket)
  return socket
}

/** TLS to the edge from the action's address (node:tls passes localAddress on to net; its types leave it out). */
export function tlsOptions(ctx: ChaosContext, alpn: 'http/1.1' | 'h2'): ConnectionOptions {
  const options: ConnectionOptions & { localAddress: string } = {
    host: '127.0.0.1',
    port: ctx.target.edgePort,
    localAddress: ctx.source,
    ca: ctx.target.ca,
    servername: 'localhost',
    ALPNProtocols: [alpn],
  }
  return options
}

/** A TLS connection to the edge with one ALPN protocol, tracked by the scope; resolves once the handshake is done. */
export async function tls(ctx: ChaosContext, alpn: 'http/1.1' | 'h2'): Promise<TLSSocket> {
  const socket = ctx.scope.track(connectTls(tlsOptions(ctx, alpn)))
  socket.on('error', () => {})
  socket.once('connect', () => ctx.connected(socket))
  await settle(socket, 'secureConnect')
  return socket
}

/** Ends a connection abruptly: TCP RST where the socket allows it (plain TCP), else an immediate destroy. */
export function reset(socket: Socket): void {
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy() // a TLS socket's handle is not a TCP one
  }
}

/** Resolves on `event`; rejects if the socket errs or closes first (a refused connection ends the action). */
function settle(socket: Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(event, resolve)
    socket.once('close', () => reject(new Error(`closed before ${event}`)))
  })
}

/** What the server sent on `socket`, and when it closed it, observed from now. */
export interface Observed {
  text(): string
  closedAfterMs(): number | undefined
  closed: Promise<void>
}

export function observe(socket: Socket): Observed {
  const since = Date.now()
  let text = ''
  let closedAfter: number | undefined
  socket.on('data', (chunk: Buffer) => {
    if (text.length < 65_536) text += chunk.toString('latin1')
  })
  const closed = new Promise<void>(resolve =>
    socket.once('close', () => {
      closedAfter = Date.now() - since
      resolve()
    }),
  )
  return { text: () => text, closedAfterMs: () => closedAfter, closed }
}

/** Waits until the server closes the connection, at most `ms`; then says what came back. */
export async function untilClosed(ctx: ChaosContext, seen: Observed, ms: number): Promise<string> {
  await Promise.race([seen.closed, ctx.scope.sleep(ms)])
  return describe(seen)
}

/** What came back, short: the HTTP/1.1 statuses (or nothing, or bytes), and whether and when it was closed. */
export function describe(seen: Observed): string {
  const statuses = [...seen.text().matchAll(/HTTP\/1\.[01] (\d{3})/g)].map(match => match[1]).slice(0, 3)
  const answer = statuses.length > 0 ? statuses.join(',') : seen.text() === '' ? 'nothing' : 'bytes'
  const closed = seen.closedAfterMs()
  return `${answer}, ${closed === undefined ? 'still open' : `closed after ${Math.round(closed / 250) * 250} ms`}`
}

/** A valid create-project body (a project named after the action), of varying length. */
export const projectBody = (ctx: ChaosContext): string =>
  JSON.stringify({ name: `chaos ${ctx.requestId}`, description: 'x'.repeat(ctx.rng.int(200)) })

/** A request head over HTTP/1.1 with the chaos login and the action's request id. */
export const head = (ctx: ChaosContext, method: string, path: string, headers: string[] = []): string =>
  [
    `${method} ${path} HTTP/1.1`,
    'Host: localhost',
    `Authorization: ${ctx.target.authorization}`,
    `X-Request-Id: ${ctx.requestId}`,
    ...headers,
  ].join('\r\n') + '\r\n\r\n'

let capturedHello: Promise<Buffer> | undefined

/** A real TLS ClientHello for the edge's name (captured from node:tls writing into a stream that goes nowhere). */
export function clientHello(): Promise<Buffer> {
  capturedHello ??= new Promise(resolve => {
    const chunks: Buffer[] = []
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk)
        callback()
        setImmediate(() => {
          socket.destroy()
          resolve(Buffer.concat(chunks))
        })
      },
    })
    const socket = connectTls({ socket: wire, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] })
    socket.on('error', () => {})
  })
  return capturedHello
}

/** An undici Agent from the action's source address, trusting the edge's CA, closed with the scope. */
export function agentFor(ctx: ChaosContext, allowH2: boolean): Agent {
  const connector = buildConnector({ ca: ctx.target.ca, servername: 'localhost', allowH2 })
  const agent = new Agent({
    allowH2,
    localAddress: ctx.source,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    connect: (options, callback) =>
      connector(options, (error, socket) => {
        if (error === null && socket !== null && socket !== undefined) ctx.connected(socket as Socket)
        callback(error as Error, socket as never)
      }),
  })
  ctx.scope.track({
    destroy: () => {
      void agent.destroy().catch(() => {})
    },
  })
  return agent
}

export interface ChaosRequest {
  method: string
  path: string
  authorization: string
  body?: string
}

/** Requests through `agent` one after another, each answer read whole; their statuses (or error codes) as a tally. */
export async function sendAll(ctx: ChaosContext, agent: Agent, requests: ChaosRequest[]): Promise<string> {
  const tally = new Map<number | string, number>()
  for (const each of requests) {
    if (ctx.scope.closed) break
    let status: number | string
    try {
      const response = await request(`https://127.0.0.1:${ctx.target.edgePort}${each.path}`, {
        dispatcher: agent,
        method: each.method as 'GET',
        headers: {
          authorization: each.authorization,
          'x-request-id': ctx.requestId,
          ...(each.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(each.body !== undefined ? { body: each.body } : {}),
        signal: AbortSignal.timeout(10_000),
      })
      await response.body.dump()
      status = response.statusCode
    } catch (error) {
      status = (error as { code?: string }).code ?? 'error'
    }
    tally.set(status, (tally.get(status) ?? 0) + 1)
  }
  return [...tally].map(([status, count]) => `${status}×${count}`).join(' ')
}
