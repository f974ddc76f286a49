// Drill (issue 5): SIGTERM to the proxy under load fails no request in flight — the proxy's side.
// The real proxy process over real TLS, in front of an upstream that answers slowly (a pause, then 128 KiB
// in four chunks with gaps, so the signal finds requests both waiting and mid-body), driven by
// keep-alive clients: HTTP/1.1 connections and HTTP/2 sessions with several streams each. SIGTERM while
// they are in flight, for PROXY_WORKERS=1 and =2:
// - every request the upstream received (all those in flight at the signal, and any after) is answered
//   200 with its whole, correct body; no response is cut off or answered with anything but 200;
// - a request fails only if nothing of it reached the upstream (refused: safe for a client to retry);
// - the process exits 0 well inside the grace period, whatever idle connections clients keep.
// A request arriving on an open keep-alive connection after the signal is served with `Connection: close`
// rather than refused with Fastify's 503 (the client could not have known; a load balancer's client
// would otherwise have to guess whether resending is safe); HTTP/2 clients get GOAWAY and their open
// streams finish.
import { createServer, type Server } from 'node:http'
import t, { type Test } from 'tap'
import { Client } from 'undici'
import { answerInternalLookup, eventually } from '../helpers/edge-stack.ts'
import { startKeepAliveLoad } from '../helpers/keep-alive-load.ts'
import { proxySetup } from '../helpers/proxy-process.ts'
import { proxyReady, spawnProxy } from '../helpers/service-processes.ts'
import { WHOLE_RESPONSE_MAX_BYTES } from '../../proxy/plugins/forward.ts'

const EXIT_BOUND_MS = 20_000
const CHUNKS = 4
// Twice what the proxy reads whole before answering: these bodies stream through it, so the signal finds
// responses half sent.
const CHUNK_BYTES = WHOLE_RESPONSE_MAX_BYTES / 2

/** What the upstream sends for `id`: checkable byte for byte without storing it. */
const bodyFor = (id: string): Buffer =>
  Buffer.concat(Array.from({ length: CHUNKS }, (_, index) => Buffer.alloc(CHUNK_BYTES, `${id}/${index};`)))

interface Upstream {
  url: string
  received: Map<string, number>
  answered: Map<string, number>
}

/**
 * Answers `/api/v1/slow?id=…` after 300–800 ms, then its body in four chunks 60 ms apart. `hold=1`: headers at once,
 * body over 1.2 s.
 */
async function slowUpstream(t: Test): Promise<Upstream> {
  const received = new Map<string, number>()
  const answered = new Map<string, number>()
  const server: Server = createServer((request, response) => {
    // The edge's own questions (a tenant's plan) are answered as the API would, and are not the load's requests.
    if (answerInternalLookup(request, response)) return
    const url = new URL(request.url!, 'http://upstream')
    const id = url.searchParams.get('id') ?? 'none'
    received.set(id, Date.now())
    const body = bodyFor(id)
    const send = (index: number): void => {
      if (index === 0) {
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'cache-control': 'no-store',
          'content-length': body.length,
        })
      }
      response.write(body.subarray(index * CHUNK_BYTES, (index + 1) * CHUNK_BYTES))
      if (index + 1 < CHUNKS) setTimeout(() => send(index + 1), url.searchParams.has('hold') ? 400 : 60)
      else response.end(() => answered.set(id, Date.now()))
    }
    setTimeout(() => send(0), url.searchParams.has('hold') ? 0 : 300 + Math.floor(Math.random() * 500))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received, answered }
}

for (const workers of ['1', '2']) {
  t.test(`PROXY_WORKERS=${workers}: SIGTERM under load fails no request in flight`, async t => {
    const upstream = await slowUpstream(t)
    const setup = await proxySetup(t, upstream.url, { PROXY_WORKERS: workers, SHUTDOWN_GRACE_MS: '30000' })
    const proxy = spawnProxy(t, setup.env)
    await proxyReady(proxy)
    const ca = setup.ca()
    // Half the requests skip the response cache, which otherwise reads a GET's whole body before answering:
    // those stream through, so the signal also finds responses half sent by the proxy.
    const target = {
      baseUrl: setup.baseUrl,
      ca,
      authorization: setup.authorization,
      path: (id: string) => `/api/v1/slow?id=${id}`,
      headers: (id: string): Record<string, string> =>
        Number(id.slice(3)) % 2 === 1 ? { 'cache-control': 'no-store' } : {},
    }

    const load = startKeepAliveLoad(target, { http1Loops: 16, http2Sessions: 4, streamsPerSession: 8 })
    await eventually(
      async () => upstream.answered.size >= 40 && upstream.received.size - upstream.answered.size >= 30,
      20_000,
      'requests in flight',
    )
    // One more client whose response has started (headers out, keep-alive, the body takes 1.2 s) when the
    // signal arrives: its next request goes on the same connection after the signal.
    const follower = new Client(setup.baseUrl, {
      connect: { ca, servername: 'localhost' },
      pipelining: 1,
      keepAliveTimeout: 30_000,
    })
    t.teardown(() => follower.destroy())
    const streamed = { authorization: setup.authorization, 'cache-control': 'no-store' }
    const held = await follower.request({ path: '/api/v1/slow?id=held-1&hold=1', method: 'GET', headers: streamed })
    t.equal(held.statusCode, 200)
    t.equal(held.headers.connection, 'keep-alive', 'its headers went out before the signal, promising keep-alive')

    const signalAt = Date.now()
    const inFlight = [...upstream.received.keys()].filter(id => !upstream.answered.has(id) && id !== 'held-1')
    proxy.child.kill('SIGTERM')
    load.stopping()

    // The held response completes; the follow-up on the same connection is served, and told to close it.
    const heldBody = Buffer.concat((await held.body.toArray()) as Buffer[])
    t.ok(Date.now() - signalAt > 500, 'it was still under way at the signal')
    t.ok(heldBody.equals(bodyFor('held-1')), 'the response under way at the signal arrives whole')
    const followUp = await follower.request({ path: '/api/v1/slow?id=held-2&hold=1', method: 'GET', headers: streamed })
    const followUpBody = Buffer.concat((await followUp.body.toArray()) as Buffer[])
    t.equal(
      followUp.statusCode,
      200,
      'a request on an open connection after the signal is served, not refused with 503',
    )
    t.equal(followUp.headers.connection, 'close', 'with Connection: close, so the client goes elsewhere next')
    t.ok(followUpBody.equals(bodyFor('held-2')))

    const code = (await proxy.exited).code
    const exitedAfterMs = Date.now() - signalAt
    await load.finished
    t.equal(code, 0, 'exit 0')
    t.ok(exitedAfterMs < EXIT_BOUND_MS, `exited ${exitedAfterMs} ms after the signal (grace period 30 s)`)

    const { attempts } = load
    const complete = (attempt: (typeof attempts)[number]): boolean =>
      attempt.error === undefined &&
      attempt.status === 200 &&
      attempt.body !== undefined &&
      attempt.body.equals(bodyFor(attempt.id))
    t.ok(inFlight.length >= 20, `${inFlight.length} requests were in flight at the signal`)
    const byId = new Map(attempts.map(attempt => [attempt.id, attempt]))
    const lost = [...upstream.received.keys()].filter(id => !id.startsWith('held-') && !complete(byId.get(id)!))
    t.same(
      lost.map(id => byId.get(id)),
      [],
      'every request that reached the upstream got its 200 and whole body',
    )
    t.same(
      inFlight.filter(id => !complete(byId.get(id)!)),
      [],
      'in particular every one in flight at the signal',
    )
    t.same(
      attempts.filter(attempt => attempt.status !== undefined && attempt.status !== 200),
      [],
      'no 503 or other error status',
    )
    t.same(
      attempts.filter(attempt => attempt.phase === 'during-body'),
      [],
      'no response cut off',
    )
    const failed = attempts.filter(attempt => attempt.error !== undefined)
    t.same(
      failed.filter(attempt => upstream.received.has(attempt.id)),
      [],
      'a request fails only if it never reached the upstream',
    )
    t.same(
      failed.filter(attempt => attempt.endedAt < signalAt),
      [],
      'nothing failed before the signal',
    )
    t.ok(
      attempts.some(
        attempt =>
          attempt.protocol === 'h2' && complete(attempt) && attempt.startedAt < signalAt && attempt.endedAt > signalAt,
      ),
      'HTTP/2 streams open at the signal finished after it',
    )
    t.ok(
      attempts.some(attempt => attempt.protocol === 'h1' && complete(attempt) && attempt.connection === 'close'),
      'HTTP/1.1 responses in flight at the signal told their clients to close the connection',
    )
    t.comment(
      `${attempts.filter(complete).length} requests answered, ${inFlight.length} in flight at the signal, ` +
        `${failed.length} refused after it (never reached the upstream), exit after ${exitedAfterMs} ms`,
    )
  })
}
