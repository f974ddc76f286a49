// Drill: chaos against the real edge and API processes. For CHAOS_MS (30 s by default), CHAOS_CLIENTS misbehaving
// clients pick, with a seeded PRNG, among aborts at every stage, half-sent and never-finished bodies over HTTP/1.1
// and HTTP/2, resets, stalls, oversized and malformed requests and frames, wrong-password bursts and valid traffic
// (test/helpers/chaos-*.ts), while a well-behaved client creates and reads back projects. Then: both processes are
// alive and serve, that client was always answered, neither logged an unexpected error, and the edge's connections
// and memory came back. CHAOS_SEED replays a run (printed with every run); CHAOS_ONLY=a,b keeps the misbehaviours
// whose names contain a or b, CHAOS_SKIP=a,b leaves them out; CHAOS_MS and CHAOS_CLIENTS make it longer or busier;
// CHAOS_JOURNAL=<file> writes down every action and its outcome.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as connectTls } from 'node:tls'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import {
  alarming,
  deathReport,
  formatEntry,
  openSockets,
  rssMiB,
  summarise,
  unexpectedLines,
  UNEXPECTED_SHUTDOWN,
  type Death,
  type ExpectedError,
  type OpenSockets,
} from '../helpers/chaos-checks.ts'
import type { ChaosTarget } from '../helpers/chaos-clients.ts'
import { h1Misbehaviours } from '../helpers/chaos-h1.ts'
import { h2Misbehaviours } from '../helpers/chaos-h2.ts'
import { startChaos, type JournalEntry } from '../helpers/chaos-run.ts'
import { startSteadyClient, type SteadyOutcome, type SteadyTarget } from '../helpers/chaos-steady-client.ts'
import { freePort } from '../helpers/edge-stack.ts'
import { alive } from '../helpers/proxy-process.ts'
import { spawnApi, startProxyProcess, type LoggedProcess, type ProxyProcess } from '../helpers/service-processes.ts'

const list = (value = ''): string[] =>
  value
    .split(',')
    .map(part => part.trim())
    .filter(Boolean)
const SEED = Number(process.env.CHAOS_SEED ?? 20_261_205)
const CHAOS_MS = Number(process.env.CHAOS_MS ?? 30_000)
const CLIENTS = Number(process.env.CHAOS_CLIENTS ?? 40)
const ONLY = list(process.env.CHAOS_ONLY)
const SKIP = list(process.env.CHAOS_SKIP)
const REPLAY = [
  `CHAOS_SEED=${SEED}`,
  ...(ONLY.length > 0 ? [`CHAOS_ONLY='${ONLY.join(',')}'`] : []),
  ...(SKIP.length > 0 ? [`CHAOS_SKIP='${SKIP.join(',')}'`] : []),
  ...(process.env.CHAOS_CLIENTS !== undefined ? [`CHAOS_CLIENTS=${CLIENTS}`] : []),
  'npx tap --disable-coverage test/drills/chaos.test.ts',
].join(' ')

const ALL = { ...h1Misbehaviours, ...h2Misbehaviours }
const MISBEHAVIOURS = Object.fromEntries(
  Object.entries(ALL).filter(
    ([name]) =>
      (ONLY.length === 0 || ONLY.some(part => name.includes(part))) && !SKIP.some(part => name.includes(part)),
  ),
)

// The edge's deadlines, short so that the chaos meets them often, in the order the defaults keep: a slow API
// becomes a 504 (UPSTREAM) before the client's socket, idle meanwhile, is cut at the request deadline, and an
// HTTP/2 session waiting on the API is not closed as idle (KEEP_ALIVE: node:http2's session timeout counts a
// session with open streams as idle when no frame moves). The API waits for a body longer than the edge does.
const EDGE_TIMEOUTS = {
  HEADERS_TIMEOUT_MS: 2000,
  UPSTREAM_TIMEOUT_MS: 4000,
  REQUEST_TIMEOUT_MS: 5000,
  KEEP_ALIVE_TIMEOUT_MS: 6000,
}
const API_TIMEOUTS = { HEADERS_TIMEOUT_MS: 3000, REQUEST_TIMEOUT_MS: 8000 }
const BODY_LIMIT_BYTES = 16 * 1024
const UPSTREAM_CONNECTIONS = 16
const PASSWORDS = { steady: 'steady-password', chaos: 'chaos-password', burst: 'burst-password' }
/** Both processes: a warning (e.g. MaxListenersExceededWarning) comes with the stack that caused it. */
const NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --trace-warnings`.trim()
/** Both processes: one that an uncaught error set shutting down exits within this (its exit is in the report). */
const SHUTDOWN_GRACE_MS = 2000
/** No action runs longer than this: its connections are destroyed then. */
const ACTION_CAP_MS = 12_000
/**
 * How long after the chaos the edge and the API may take to close what it left open: past the longest deadline
 * (KEEP_ALIVE 6 s: after a connection error the edge sends GOAWAY, then holds the socket until its idle timeout).
 */
const SETTLE_MS = 10_000
/** Descriptors beyond the baseline and the upstream pool the processes may hold (log files, timers, a DNS lookup…). */
const FD_SLACK = 10
/** The edge's resident memory: twice its warm footprint plus 100 MiB (see checkMemory). */
const RSS_BOUND = (warmMiB: number): number => 2 * warmMiB + 100

/**
 * Error-level lines either process may log under this chaos, each with why it is not a fault. None: with the
 * crash fixed, neither process logs at error level under this chaos, and a new one deserves a look.
 */
const EXPECTED_ERRORS: ExpectedError[] = []

/** Warnings either process may write to stderr under this chaos, each with why it is not a fault. */
const EXPECTED_WARNINGS: Array<{ test(warning: string): boolean; why: string }> = [
  {
    test: warning => warning.startsWith('UnsupportedWarning: The provided connection header is not valid'),
    why:
      'Fastify answers a body its parser refused with Connection: close, HTTP/2 too; Node drops the header there ' +
      'and warns, once a process (https://github.com/fastify/fastify/pull/7034 removes it)',
  },
]

interface Stack {
  proxy: ProxyProcess
  api: LoggedProcess
  edgePort: number
  apiPort: number
  apiUrl: string
  steady: SteadyTarget
  chaos: ChaosTarget
}

interface Baseline {
  edge: OpenSockets
  api: OpenSockets
  edgeRssMiB: number
}

interface Run {
  journal: JournalEntry[]
  steady: SteadyOutcome[]
  deaths: Death[]
  rssMiB: number[]
}

t.test(`chaos for ${CHAOS_MS / 1000} s, ${CLIENTS} misbehaving clients, seed ${SEED}`, async t => {
  const began = Date.now()
  const phases: string[] = []
  const phase = (name: string): void => {
    phases.push(`${name} ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }
  try {
    const stack = await startStack(t)
    phase('both processes ready')
    const baseline = await warmUp(t, stack)
    phase('warm')
    const run = await chaosWindow(stack)
    phase(`chaos over (${run.journal.length} actions)`)
    t.comment([`seed ${SEED} (replay: ${REPLAY}); what the misbehaviours met:`, ...summarise(run.journal)].join('\n'))
    const journalFile = process.env.CHAOS_JOURNAL
    if (journalFile !== undefined) writeFileSync(journalFile, run.journal.map(formatEntry).join('\n') + '\n')

    if (await reportDeaths(t, run)) return
    await stillServes(t, stack)
    checkSteadyClient(t, stack, run)
    checkLogs(t, stack)
    await checkSockets(t, stack, baseline, run)
    phase('sockets settled')
    checkMemory(t, stack, baseline, run)
    if (ONLY.length === 0 && SKIP.length === 0 && CHAOS_MS >= 20_000) {
      const ran = new Set(run.journal.map(entry => entry.kind))
      t.same(
        Object.keys(ALL).filter(kind => !ran.has(kind)),
        [],
        'every misbehaviour ran at least once',
      )
    }
  } finally {
    t.comment(phases.join(', '))
  }
})

/** The API on its embedded database, the edge in front of it with small limits, and three logins. */
async function startStack(t: Test): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-chaos-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The well-behaved client is alone on its tenant and user (globex, on a plan whose budget it cannot spend):
  // the chaos login and the login its wrong passwords are for are another tenant's (acme).
  const logins = { 'steady@globex': PASSWORDS.steady, 'chaos@acme': PASSWORDS.chaos, 'burst@acme': PASSWORDS.burst }
  const htpasswdFile = join(dir, 'htpasswd')
  const entries = Object.entries(logins).map(async ([login, secret]) => `${login}:${await hashPassword(secret, 4)}\n`)
  writeFileSync(htpasswdFile, (await Promise.all(entries)).join(''))

  // Both start at once (each takes seconds): the edge needs only the API's address, not the API.
  const apiPort = await freePort()
  const common = { NODE_OPTIONS, ...strings({ SHUTDOWN_GRACE_MS, BODY_LIMIT_BYTES }) }
  const api = spawnApi(t, {
    ...common,
    ...strings({ ...API_TIMEOUTS, PORT: apiPort }),
    DATA_DIR: join(dir, 'api'),
    SEED_DEMO_DATA: 'true',
  })
  const apiReady = api.waitForLine(line => line.msg === 'gatehouse api ready', 'the API ready')
  const apiUrl = `http://127.0.0.1:${apiPort}`
  const proxy = await startProxyProcess(t, {
    upstreamUrls: apiUrl,
    htpasswdFile,
    env: {
      ...common,
      ...strings(EDGE_TIMEOUTS),
      // Far above what the chaos can hold (clients × body limit): the well-behaved client's writes never meet it.
      ...strings({ UPSTREAM_CONNECTIONS, BODY_BUFFER_MAX_BYTES: 4 * 1024 * 1024 }),
      // Small, so that the chaos reaches them (its addresses are many, the well-behaved client's is its own).
      AUTH_FAILURE_LIMIT: '5',
      AUTH_LOGIN_FAILURE_LIMIT: '20',
      RATE_LIMIT_ANONYMOUS: '20',
      RATE_LIMIT_FREE: '1000000',
      RATE_LIMIT_PRO: '1000000',
      TENANT_PLANS: 'globex=pro',
    },
  })
  await apiReady
  const edgePort = Number(new URL(proxy.url).port)
  const basic = (login: keyof typeof logins): string =>
    `Basic ${Buffer.from(`${login}:${logins[login]}`).toString('base64')}`
  return {
    proxy,
    api,
    edgePort,
    apiPort,
    apiUrl,
    steady: { port: edgePort, ca: proxy.caCert, authorization: basic('steady@globex') },
    chaos: {
      edgePort,
      apiPort,
      ca: proxy.caCert,
      authorization: basic('chaos@acme'),
      burstLogin: 'burst@acme',
      bodyLimitBytes: BODY_LIMIT_BYTES,
      requestTimeoutMs: EDGE_TIMEOUTS.REQUEST_TIMEOUT_MS,
    },
  }
}

/**
 * Requests over both protocols until several in a row are answered right (the API's first ones are slow: a cold
 * database), then the baseline: descriptors and memory with every client connection gone.
 */
async function warmUp(t: Test, stack: Stack): Promise<Baseline> {
  const warm = startSteadyClient(stack.steady, { h1: 1, h2: 1, maxMs: 30_000 })
  const warmed = await settled(() => warm.outcomes.length >= 12 && warm.outcomes.slice(-6).every(o => o.ok), 30_000)
  await warm.stop()
  t.ok(warmed, `warm-up: ${warm.outcomes.length} requests, the last six answered right`)
  const edgePid = stack.proxy.process.child.pid!
  await settled(() => openSockets(edgePid, stack.edgePort).connections.length === 0, 5000)
  return {
    edge: openSockets(edgePid, stack.edgePort),
    api: openSockets(stack.api.child.pid!, stack.apiPort),
    edgeRssMiB: rssMiB(edgePid)!,
  }
}

/** The chaos and the well-behaved client side by side; watched every 100 ms: the edge's memory, and deaths. */
async function chaosWindow(stack: Stack): Promise<Run> {
  const since = Date.now()
  const steady = startSteadyClient(stack.steady, { h1: 2, h2: 2, maxMs: CHAOS_MS + 5000 }, since)
  const plan = { seed: SEED, clients: CLIENTS, durationMs: CHAOS_MS, capMs: ACTION_CAP_MS, maxActionsPerClient: 1000 }
  const chaos = startChaos(stack.chaos, { ...plan, misbehaviours: MISBEHAVIOURS }, since)
  const run: Run = { journal: chaos.journal, steady: steady.outcomes, deaths: [], rssMiB: [] }
  const edgePid = stack.proxy.process.child.pid!
  const watcher = setInterval(() => {
    for (const [who, service] of [
      ['edge', stack.proxy.process],
      ['API', stack.api],
    ] as const) {
      // Dying begins with the shutdown an uncaught error sets off (close-with-grace), before the exit. Then the
      // chaos stops at once: the rest is moot.
      const dying = !service.alive() || service.countLines(UNEXPECTED_SHUTDOWN) > 0
      if (dying && !run.deaths.some(death => death.who === who)) {
        run.deaths.push({ who, service, atMs: Date.now() - since })
        void chaos.stop()
      }
    }
    const now = rssMiB(edgePid)
    if (now !== undefined) run.rssMiB.push(now)
  }, 100)
  try {
    await chaos.finished
    await steady.stop()
  } finally {
    clearInterval(watcher)
  }
  return run
}

/** A process that died fails the drill, with what it said last and what the clients were doing then. */
async function reportDeaths(t: Test, run: Run): Promise<boolean> {
  for (const death of run.deaths) {
    const gone = new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), SHUTDOWN_GRACE_MS + 3000))
    const exit = await Promise.race([death.service.exited, gone])
    t.comment(deathReport(death, run.journal, SEED))
    const how = exit === undefined ? 'still exiting' : `exit ${exit.code ?? exit.signal}`
    const when = `${(death.atMs / 1000).toFixed(1)} s into the chaos`
    t.fail(`the ${death.who} process died ${when} (${how}), seed ${SEED}; replay: ${REPLAY}`)
  }
  return run.deaths.length > 0
}

/** Both still run and accept connections, and a fresh client creates a project through the edge and reads it back. */
async function stillServes(t: Test, stack: Stack): Promise<void> {
  const pids = { edge: stack.proxy.process.child.pid!, api: stack.api.child.pid! }
  t.ok(alive(pids.edge) && alive(pids.api), `both processes still run (edge pid ${pids.edge}, API pid ${pids.api})`)
  const handshake = await new Promise<string>(resolve => {
    const socket = connectTls(
      {
        host: '127.0.0.1',
        port: stack.edgePort,
        ca: stack.proxy.caCert,
        servername: 'localhost',
        ALPNProtocols: ['h2'],
      },
      () => {
        resolve(String(socket.alpnProtocol))
        socket.destroy()
      },
    )
    socket.once('error', error => resolve(error.message))
  })
  t.equal(handshake, 'h2', 'the edge accepts a new TLS connection')
  const health = await request(`${stack.apiUrl}/health`).then(
    async response => {
      await response.body.dump()
      return response.statusCode
    },
    (error: Error) => error.message,
  )
  t.equal(health, 200, 'the API accepts a new connection and answers /health')
  const { authorization } = stack.steady
  for (const allowH2 of [true, false]) {
    const agent = new Agent({ connect: { ca: stack.proxy.caCert, servername: 'localhost' }, allowH2 })
    const name = `after the chaos over ${allowH2 ? 'HTTP/2' : 'HTTP/1.1'}`
    const projects = `https://127.0.0.1:${stack.edgePort}/api/v1/projects`
    const headers = { authorization, 'content-type': 'application/json' }
    const body = JSON.stringify({ name })
    const created = await request(projects, { dispatcher: agent, method: 'POST', headers, body })
    const project = (await created.body.json()) as { id?: string; name?: string }
    t.match({ status: created.statusCode, name: project.name }, { status: 201, name }, `${name}: created`)
    const read = await request(`${projects}/${project.id}`, { dispatcher: agent, headers: { authorization } })
    const readBack = { status: read.statusCode, body: await read.body.json() }
    t.match(readBack, { status: 200, body: { id: project.id, name } }, `${name}: read back`)
    await agent.close() // before the sockets are counted
  }
}

/**
 * Every answer the well-behaved client got was right, in every third of the window. Its plan's budget is out of
 * reach and no per-address or per-login limit can reach it, so no failure (not even a 429) is excused.
 */
function checkSteadyClient(t: Test, stack: Stack, run: Run): void {
  const failed = run.steady.filter(o => !o.ok)
  const all = run.steady.length
  t.same(failed.slice(0, 5), [], `all ${all} requests of the well-behaved client answered right (${failed.length} not)`)
  if (failed.length > 0) {
    const lines = failed.slice(0, 5).flatMap(o => stack.proxy.process.lines(`"${o.requestId}"`))
    t.comment(
      ['what the edge logged of them:', ...lines.map(line => `  ${JSON.stringify(line).slice(0, 600)}`)].join('\n'),
    )
  }
  for (const third of [0, 1, 2]) {
    const served = run.steady.some(o => o.ok && Math.floor(o.at / (CHAOS_MS / 3)) === third)
    t.ok(served, `the well-behaved client was served in third ${third + 1} of the chaos`)
  }
}

/** Neither process logged an unexpected error, nor wrote a warning or an error to stderr (beyond the expected ones). */
function checkLogs(t: Test, stack: Stack): void {
  for (const [who, service] of [
    ['edge', stack.proxy.process],
    ['API', stack.api],
  ] as const) {
    const bad = unexpectedLines(service, EXPECTED_ERRORS)
    t.same(bad.slice(0, 5), [], `the ${who} logged no unexpected error, fatal or uncaught error (${bad.length} lines)`)
    const expected = (warning: string): boolean => EXPECTED_WARNINGS.some(each => each.test(warning))
    const alarms = alarming(service.stderr()).filter(warning => !expected(warning))
    t.same(alarms.slice(0, 3), [], `nothing alarming on the ${who}'s stderr (${alarms.length} kinds of warnings)`)
  }
}

/**
 * Every client connection of the chaos ends within the processes' deadlines once the clients are gone (all
 * destroyed on our side by now): the edge's connections on its HTTPS port return to the baseline's (none). Its
 * descriptors may grow by what the upstream pool keeps open to the API — up to UPSTREAM_CONNECTIONS idle
 * keep-alive connections, which is its job — plus FD_SLACK. The API keeps only the pool's connections (from
 * 127.0.0.1; the chaos came from other loopback addresses). A connection left open names the action that opened it.
 */
async function checkSockets(t: Test, stack: Stack, baseline: Baseline, run: Run): Promise<void> {
  const pids = { edge: stack.proxy.process.child.pid!, api: stack.api.child.pid! }
  const bounds = {
    edge: baseline.edge.fds + UPSTREAM_CONNECTIONS + FD_SLACK,
    api: baseline.api.fds + UPSTREAM_CONNECTIONS + FD_SLACK,
  }
  const fromChaos = (connection: { peer: string }): boolean => !connection.peer.startsWith('127.0.0.1:')
  const now = (): { edge: OpenSockets; api: OpenSockets } => ({
    edge: openSockets(pids.edge, stack.edgePort),
    api: openSockets(pids.api, stack.apiPort),
  })
  await settled(() => {
    const { edge, api } = now()
    return (
      edge.connections.length <= baseline.edge.connections.length &&
      edge.fds <= bounds.edge &&
      !api.connections.some(fromChaos) &&
      api.connections.length <= UPSTREAM_CONNECTIONS &&
      api.fds <= bounds.api
    )
  }, SETTLE_MS)
  const { edge, api } = now()
  const owner = (connection: { state: string; peer: string }): string => {
    const entry = run.journal.find(candidate => candidate.connections.includes(connection.peer))
    const opener = entry === undefined ? 'no chaos action' : formatEntry(entry).trim()
    return `${connection.state} from ${connection.peer}: ${opener}`
  }
  const within = `within ${SETTLE_MS / 1000} s of the end`
  const before = baseline.edge.connections.length
  const leftOpen = edge.connections.length > before ? edge.connections.map(owner) : []
  t.same(leftOpen, [], `${within}, the edge holds ${edge.connections.length} client connections (baseline ${before})`)
  const fds = (what: string, now: number, then: number, bound: number): string =>
    `${within}, the ${what} holds ${now} descriptors (baseline ${then}, bound ${bound})`
  t.ok(edge.fds <= bounds.edge, fds('edge', edge.fds, baseline.edge.fds, bounds.edge))
  t.same(api.connections.filter(fromChaos).map(owner), [], `${within}, the API holds no connection of a chaos client`)
  const pooled = api.connections.length
  t.ok(pooled <= UPSTREAM_CONNECTIONS, `the API holds ${pooled} connections, no more than the edge's pool opens`)
  t.ok(api.fds <= bounds.api, fds('API', api.fds, baseline.api.fds, bounds.api))
}

/**
 * The edge's resident memory, during the chaos and after: the chaos holds at most CLIENTS × a body limit of
 * request bodies, plus connection and TLS state; twice the warm footprint plus 100 MiB is far above that, and far
 * below what a leak growing with every action (some five hundred a run, many with 16 KiB bodies or 64 KiB frames)
 * or a buffered large body reaches.
 */
function checkMemory(t: Test, stack: Stack, baseline: Baseline, run: Run): void {
  const current = rssMiB(stack.proxy.process.child.pid!) ?? 0
  const peak = Math.max(...run.rssMiB, current)
  const bound = RSS_BOUND(baseline.edgeRssMiB)
  const mib = (value: number): string => `${value.toFixed(0)} MiB`
  const warm = mib(baseline.edgeRssMiB)
  t.ok(peak <= bound, `the edge's RSS peaked at ${mib(peak)} (warm ${warm}, bound ${mib(bound)}), ${mib(current)} now`)
}

function strings(settings: Record<string, number>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([key, value]) => [key, String(value)]))
}

/** Polls `probe` every 100 ms until it holds or `ms` pass; whether it held. */
async function settled(probe: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!probe()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return true
}
