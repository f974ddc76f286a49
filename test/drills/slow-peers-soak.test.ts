// Drill (issue 5): a bounded soak of the edge process. For about 25 s, some three hundred misbehaving
// clients cycle — slowloris over HTTP/1.1 and HTTP/2, bodies trickled in, idle keep-alive connections,
// clients that never read a 64 MiB answer or never finish TLS — alongside requests to an API that trickles its body or
// never answers, while normal clients keep going. The proxy's resident memory (VmRSS) is sampled throughout: the last
// third may not grow past the early plateau by more than a generous margin, every normal request is answered 2xx (in
// every third of the run), and every kind of misbehaving client is cut off again and again (a client the edge never cut
// off would never start its next cycle).
import { connect as connectTcp } from 'node:net'
import t from 'tap'
import { Agent, request } from 'undici'
import { closedBy, startSlowPeerStack, trickle, type SlowPeerStack } from '../helpers/slow-peers.ts'

const SOAK_MS = 25_000
const stack = await startSlowPeerStack(t, {
  HEADERS_TIMEOUT_MS: '1000',
  REQUEST_TIMEOUT_MS: '3000',
  KEEP_ALIVE_TIMEOUT_MS: '1500',
  UPSTREAM_TIMEOUT_MS: '5000',
})

/** One misbehaving client's cycle: connect, misbehave until the edge gives up on it. */
type Cycle = (stack: SlowPeerStack) => Promise<void>

/**
 * A cycle on one TLS connection: send `opening`, then `trickled` a piece every 200 ms if given, until the edge closes
 * it.
 */
const untilClosed =
  (alpn: 'http/1.1' | 'h2', opening: string | Buffer, trickled?: string): Cycle =>
  async stack => {
    const socket = await stack.tls(alpn)
    const ended = closedBy(socket, Date.now(), 20_000)
    socket.write(opening)
    if (trickled !== undefined) trickle(socket, trickled, 200)
    await ended
  }

const get = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${stack.authorization}\r\n${extra}\r\n`

const cycles: Record<string, { clients: number; cycle: Cycle }> = {
  'slowloris HTTP/1.1': {
    clients: 80,
    cycle: untilClosed('http/1.1', 'GET /api/v1/fast HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: yes\r\n'),
  },
  'slowloris HTTP/2': {
    clients: 20,
    // Preface, empty SETTINGS, then a HEADERS frame announcing 16 KiB for stream 1 whose bytes come one by one.
    cycle: untilClosed(
      'h2',
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        Buffer.from([0, 0x40, 0, 1, 4, 0, 0, 0, 1]),
      ]),
      '\x00',
    ),
  },
  'slow body HTTP/1.1': {
    clients: 40,
    cycle: untilClosed(
      'http/1.1',
      `POST /api/v1/upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${stack.authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[`,
      '1,',
    ),
  },
  'slow body HTTP/2': {
    clients: 10,
    async cycle(stack) {
      const session = stack.h2()
      const stream = session.request({
        ':method': 'POST',
        ':path': '/api/v1/upload',
        authorization: stack.authorization,
        'content-type': 'application/json',
        'content-length': '100000',
      })
      stream.on('error', () => {})
      const timer = setInterval(() => {
        if (stream.writable) stream.write('1,')
      }, 200)
      await new Promise(resolve => {
        stream.once('response', resolve)
        stream.once('close', resolve)
      })
      clearInterval(timer)
      session.destroy()
    },
  },
  'idle keep-alive': { clients: 80, cycle: untilClosed('http/1.1', get('/api/v1/fast')) },
  'never reads 64 MiB': {
    clients: 10,
    async cycle(stack) {
      const socket = await stack.tls('http/1.1')
      socket.write(get('/api/v1/big'))
      socket.once('data', () => socket.pause())
      // The edge drops it after the request deadline without progress; this client cannot see that while
      // it reads nothing, so it waits past the deadline, then gives up too.
      await new Promise(resolve => setTimeout(resolve, 4000))
      socket.destroy()
    },
  },
  'never finishes TLS': {
    clients: 20,
    async cycle(stack) {
      const socket = connectTcp(stack.port, '127.0.0.1')
      socket.on('error', () => {})
      await new Promise(resolve => {
        socket.once('close', resolve)
        setTimeout(resolve, 20_000)
      })
      socket.destroy()
    },
  },
  'API trickles its body': { clients: 10, cycle: untilClosed('http/1.1', get('/api/v1/trickle')) },
  'API never answers': { clients: 10, cycle: untilClosed('http/1.1', get('/api/v1/never', 'Connection: close\r\n')) },
}

t.test(
  'hundreds of slow clients and slow API answers cycling: memory stays bounded, normal requests keep succeeding',
  async t => {
    const startedAt = Date.now()
    const running = (): boolean => Date.now() - startedAt < SOAK_MS
    const samples: Array<{ at: number; kb: number }> = []
    const sampler = setInterval(() => samples.push({ at: Date.now() - startedAt, kb: stack.rssKb() }), 250)
    t.teardown(() => clearInterval(sampler))

    const completed = new Map<string, number>(Object.keys(cycles).map(name => [name, 0]))
    const loops = Object.entries(cycles).flatMap(([name, { clients, cycle }]) =>
      Array.from({ length: clients }, async (_, index) => {
        // Staggered, so the clients do not all cycle in step.
        await new Promise(resolve => setTimeout(resolve, (index * 97) % 2000))
        while (running()) {
          await cycle(stack).catch(() => {})
          completed.set(name, completed.get(name)! + 1)
        }
      }),
    )

    const normal: Array<{ at: number; status: number; error?: string }> = []
    const agents = [true, false].map(
      allowH2 =>
        new Agent({
          connect: { ca: stack.ca, servername: 'localhost' },
          allowH2,
          headersTimeout: 15_000,
          bodyTimeout: 15_000,
        }),
    )
    t.teardown(() => Promise.all(agents.map(agent => agent.close())))
    const normalLoops = Array.from({ length: 8 }, async (_, index) => {
      const agent = agents[index % 2]!
      while (running()) {
        const at = Date.now() - startedAt
        const upload = index % 4 === 3
        try {
          const response = await request(`https://127.0.0.1:${stack.port}/api/v1/${upload ? 'upload' : 'fast'}`, {
            dispatcher: agent,
            method: upload ? 'POST' : 'GET',
            // Another tenant: the misbehaving user's own requests queue behind its share of the API pool.
            headers: { authorization: stack.bystanderAuthorization, 'content-type': 'application/json' },
            ...(upload ? { body: JSON.stringify({ data: 'x'.repeat(2000) }) } : {}),
            signal: AbortSignal.timeout(20_000),
          })
          await response.body.json()
          normal.push({ at, status: response.statusCode })
        } catch (error) {
          normal.push({
            at,
            status: 0,
            error: `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`,
          })
        }
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    })

    await Promise.all([...loops, ...normalLoops])
    clearInterval(sampler)

    const mib = (kb: number): string => (kb / 1024).toFixed(0)
    const during = (from: number, to: number): number[] =>
      samples.filter(s => s.at >= from * SOAK_MS && s.at < to * SOAK_MS).map(s => s.kb)
    const plateau = Math.max(...during(1 / 6, 2 / 6))
    const lastThird = Math.max(...during(2 / 3, 1))
    t.comment(
      `RSS (MiB) by sixth of the run, max: ${[0, 1, 2, 3, 4, 5].map(i => mib(Math.max(...during(i / 6, (i + 1) / 6)))).join(' ')}`,
    )
    t.comment(`cycles completed: ${[...completed].map(([name, n]) => `${name} ${n}`).join(', ')}`)
    t.ok(
      lastThird <= plateau * 1.5 + 32 * 1024,
      `the last third's peak (${mib(lastThird)} MiB) stays within 1.5 × the early plateau (${mib(plateau)} MiB) + 32 MiB`,
    )

    const failed = normal.filter(n => n.status < 200 || n.status > 299)
    t.same(failed.slice(0, 5), [], `all ${normal.length} normal requests answered 2xx (${failed.length} not)`)
    for (const third of [0, 1, 2]) {
      t.ok(
        normal.some(n => n.status === 200 && n.at >= (third * SOAK_MS) / 3 && n.at < ((third + 1) * SOAK_MS) / 3),
        `normal requests succeed in third ${third + 1} of the run`,
      )
    }
    for (const [name, count] of completed) {
      t.ok(
        count >= cycles[name]!.clients * 2,
        `${name}: cut off and back again (${count} cycles by ${cycles[name]!.clients} clients)`,
      )
    }
    t.ok(stack.proxy.process.child.exitCode === null, 'the proxy is still running')
  },
)
