// Drill (issue 5): SIGTERM to the API under load fails no request that reached it.
// One API process (server/main.ts as operators run it), many keep-alive clients reading and writing
// directly, plus creates whose bodies are half sent: SIGTERM. Every request the API had begun is answered
// 2xx with its whole body (never Fastify's bare 503), every acknowledged write is in the database and
// nothing else is, and the process exits 0 within a bound. Only requests that never reached it (refused
// once the listener closed, or sent on an idle keep-alive connection just as it was closed) may fail.
// Behind a balancer nothing may fail at all: test/drills/api-sigterm-edge.test.ts.
// On PGlite and, when the suite has it, Postgres.
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import { forEachDrillDatabase } from '../helpers/drill-database.ts'
import { TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'
import {
  namedWith,
  outcomeSummary,
  reconcileWrites,
  rowNames,
  startMarkedWritesLoad,
  WRITE_PREFIX,
  type Outcome,
} from '../helpers/marked-writes-load.ts'
import { exitWithin, requestIdsLogged, startApiProcess, type ApiProcess } from '../helpers/service-processes.ts'

const EXIT_BOUND_MS = 45_000
const GRACE = { SHUTDOWN_GRACE_MS: '30000' }

/** Creates sent straight to the API over raw sockets with half their body: in flight until `finish()`. */
async function halfSentCreates(t: Test, api: ApiProcess, tenant: string, count: number) {
  const sockets: Array<{ socket: Socket; rest: string; answer: Promise<string> }> = []
  const markers: string[] = []
  for (let i = 0; i < count; i++) {
    const marker = `slow-${i}-${Math.random().toString(36).slice(2, 8)}`
    markers.push(marker)
    const body = JSON.stringify({ name: marker })
    const socket = connect(api.port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    await new Promise<void>(resolve => socket.once('connect', resolve))
    const signed = signIdentity(TEST_IDENTITY_SECRET, {
      tenant,
      user: 'drill',
      requestId: marker,
      method: 'POST',
      url: '/api/v1/projects',
      body,
    })
    const head = [
      'POST /api/v1/projects HTTP/1.1',
      'Host: api',
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      ...Object.entries(signed).map(([name, value]) => `${name}: ${value}`),
    ].join('\r\n')
    // Everything the server sends until it closes the connection: one response, then the close it announced.
    const answer = new Promise<string>(resolve => {
      let text = ''
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk
      })
      socket.once('close', () => resolve(text))
    })
    socket.write(`${head}\r\n\r\n${body.slice(0, 10)}`)
    sockets.push({ socket, rest: body.slice(10), answer })
  }
  return {
    markers,
    async finish() {
      for (const { socket, rest } of sockets) socket.write(rest)
      return Promise.all(sockets.map(({ answer }) => answer))
    },
  }
}

forEachDrillDatabase(t, async (t, database) => {
  t.test('one API, keep-alive clients direct: every request it began is answered in full, then exit 0', async t => {
    const settings = database.apiSettings()
    const api = await startApiProcess(t, { ...settings, env: { ...settings.env, ...GRACE } })
    const tenant = database.tenants.writers
    const slow = await halfSentCreates(t, api, tenant, 12)
    const load = startMarkedWritesLoad(
      { apiUrl: api.url, tenantSlug: tenant },
      { writers: 12, readers: 12, pauseMs: 0, deadlineMs: 30_000, through: 'api' },
    )
    // Under way: a good number answered, and every client answered at least once, so each keep-alive
    // connection is open, accepted and busy when the signal comes. (A connection still in the listener's
    // backlog, which a starved process accepts slowly, is reset by the kernel when the listener closes:
    // with no drain delay, nothing a server does can answer it. SHUTDOWN_DRAIN_DELAY_MS is for that.)
    const answeredOutcomes = (): Outcome[] => load.outcomes.filter(o => o.status !== 0)
    const clientsAnswered = (): number => new Set(answeredOutcomes().map(o => o.client)).size
    const deadline = Date.now() + 60_000
    while ((answeredOutcomes().length < 60 || clientsAnswered() < 24) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.ok(
      answeredOutcomes().length >= 60 && clientsAnswered() === 24,
      `the load is under way, every client answered: ${outcomeSummary(load.outcomes)}`,
    )
    for (const marker of slow.markers) {
      t.ok(requestIdsLogged(api, 'incoming request').includes(marker), `${marker} is in flight`)
    }

    const signalledAt = Date.now()
    api.current().child.kill('SIGTERM')
    await api.current().waitForLine(line => line.msg === 'shutting down: finishing in-flight requests', 'the shutdown')
    const slowAnswers = await slow.finish()
    const exit = await exitWithin(api, EXIT_BOUND_MS)
    await load.stop()
    t.strictSame(exit, { code: 0, signal: null }, `exits 0 within ${EXIT_BOUND_MS} ms: ${api.current().stderr()}`)

    for (const [i, answer] of slowAnswers.entries()) {
      t.match(answer, /^HTTP\/1\.1 201 /, `half-sent create ${i} is answered 201`)
      t.match(answer, /\r\nconnection: close\r\n/i, 'and its connection closed after it')
      t.match(
        JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)),
        { name: slow.markers[i] },
        'with its whole body',
      )
    }
    const began = new Set(requestIdsLogged(api, 'incoming request'))
    const lines = api.current().lines()
    const shutdownAt = lines.findIndex(line => line.msg === 'shutting down: finishing in-flight requests')
    const inFlight = lines
      .slice(0, shutdownAt)
      .filter(line => line.msg === 'incoming request')
      .map(line => line.reqId)
      .filter(id => !lines.slice(0, shutdownAt).some(line => line.msg === 'request completed' && line.reqId === id))
    t.ok(inFlight.length >= slow.markers.length, `${inFlight.length} requests were in flight when the signal came`)

    const { outcomes } = load
    t.comment(`outcomes: ${outcomeSummary(outcomes)}`)
    const sentBefore = outcomes.filter(o => o.startedAt < signalledAt)
    t.same(
      sentBefore.filter(o => o.status < 200 || o.status > 299),
      [],
      `all ${sentBefore.length} requests sent before the signal were answered 2xx in full, those still unread by the busy API too`,
    )
    t.same(
      outcomes.filter(o => o.status !== 0 && (o.status < 200 || o.status > 299)),
      [],
      'every answer is a 2xx (never 503, never 5xx)',
    )
    const lost = outcomes.filter(o => o.status === 0 && began.has(o.marker))
    t.same(
      lost,
      [],
      'no request the API had begun went unanswered or was cut short; those that failed never reached it',
    )
    const completed = new Map(
      api
        .current()
        .lines('"request completed"')
        .map(line => [String(line.reqId), (line.res as { statusCode: number }).statusCode]),
    )
    t.same(
      [...began].filter(id => !completed.has(id)),
      [],
      'the API logged an answer for every request it began',
    )

    // The database holds exactly the acknowledged writes, each once.
    const stored = await database.projects()
    reconcileWrites(
      t,
      namedWith(stored, WRITE_PREFIX),
      outcomes.filter(o => o.kind === 'write'),
      'absent',
    )
    t.same(
      rowNames(namedWith(stored, 'slow-')).sort(),
      slow.markers.slice().sort(),
      'and the half-sent creates, each once',
    )
  })
})
