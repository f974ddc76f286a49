// Fault drill (issue 5): Postgres goes away and comes back while the API is under load.
// A private Postgres (test/helpers/throwaway-postgres.ts; never the shared one), the real API as a process,
// and the real edge proxy in front of it for half the writes. While writers and readers keep going over
// REST and GraphQL, the server is stopped with `pg_ctl stop -m fast` (open transactions rolled back,
// clients told), then with `-m immediate` (every server process killed mid-transaction, crash recovery on
// start), each time started again on the same port; last it is frozen (SIGSTOP: sockets stay open, nothing
// answers — a hung host) and thawed. The drill holds the API to:
// - every request answered while the fault lasts: no hang, and the process never dies;
// - while the database is away, writes and reads get 503 with Retry-After (never 500): problem+json over
//   REST, GraphQL's own error format with the same code; /ready is 503;
// - once it is back, 2xx again with nobody touching the API, /ready 200;
// - every write acknowledged with 2xx exists exactly once; no write exists twice, and no request the edge
//   forwarded reached the API twice (the edge must not resend a POST).
// A write in flight when its connection dies may have committed (COMMIT reached the server, its answer
// did not reach us) while its client got a 503: that row exists though it was never acknowledged. That is
// allowed — the client was told nothing succeeded and may check or retry — and is counted, not failed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { eventually, startTestProxy } from '../helpers/edge-stack.ts'
import {
  outcomeSummary,
  reconcileWrites,
  startMarkedWritesLoad,
  type Load,
  type Outcome,
} from '../helpers/marked-writes-load.ts'
import { startApiProcess, type ApiProcess } from '../helpers/service-processes.ts'
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.ts'

// The API's own bounds, short so a frozen server is given up on quickly: a connect or a pool checkout
// 2 s, an unanswered query statement_timeout + 2 s. Nothing in the drill measures them.
const API_DATABASE_SETTINGS = { DATABASE_CONNECT_TIMEOUT_MS: '2000', DATABASE_STATEMENT_TIMEOUT_MS: '2000' }
// Generous for a loaded 2-core machine: a request open this long counts as hung.
const REQUEST_DEADLINE_MS = 25_000
const MIN_OUTAGE_MS = 2000
// How long a fault may last at most while the drill waits for the requests it caught to be answered.
const FAULT_CAP_MS = 30_000
const RECOVERY_BOUND_MS = 30_000

type Fault = 'fast' | 'immediate' | 'freeze'
interface FaultTimes {
  began: number
  inEffect: number
  endBegan: number
  ended: number
  recovered: number
}

async function ready(api: ApiProcess): Promise<{ status: number; retryAfter?: string; type?: string }> {
  const response = await request(`${api.url}/ready`, {
    headersTimeout: REQUEST_DEADLINE_MS,
    bodyTimeout: REQUEST_DEADLINE_MS,
  })
  await response.body.dump()
  return {
    status: response.statusCode,
    retryAfter: response.headers['retry-after'] as string | undefined,
    type: response.headers['content-type'] as string | undefined,
  }
}

/** What the API logged about failed requests (a 5xx never says why). */
function loggedErrors(api: ApiProcess, from: number, to: number): string {
  const counts = new Map<string, number>()
  for (const line of api.current().lines('"request failed"')) {
    const time = Date.parse(line.time as string)
    if (line.msg !== 'request failed' || time < from || time > to) continue
    const err = line.err as { type?: string; message?: string; code?: string } | undefined
    const key = `${err?.code ?? err?.type ?? '?'}: ${err?.message?.split('\n')[0]?.slice(0, 90)}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([key, n]) => `${n}× ${key}`).join('; ')
}

/** Brings the fault on under the running load, holds it, ends it, and waits for the API to serve again. */
async function fault(
  t: Test,
  pgServer: ThrowawayPostgres,
  api: ApiProcess,
  load: Load,
  kind: Fault,
): Promise<FaultTimes> {
  const acknowledgedSince = (from: number): number =>
    load.outcomes.filter(o => o.kind === 'write' && o.acknowledged === true && o.startedAt >= from).length
  const warm = Date.now()
  await eventually(async () => acknowledgedSince(warm) >= 10, RECOVERY_BOUND_MS, 'writes succeeding before the fault')

  const began = Date.now()
  if (kind === 'freeze') pgServer.freeze(true)
  else await pgServer.stop(kind)
  const inEffect = Date.now()
  // Sent at once, while the pool still holds connections opened before the fault: a probe must not wait
  // on one of them for the database to come back.
  let first: { status: number } | undefined
  void ready(api).then(
    answer => {
      first = answer
    },
    (error: Error) => {
      first = { status: 0 }
      t.comment(`first probe: ${error.message}`)
    },
  )
  // Held until that probe and the requests caught by the fault (in flight, or sent in its first second) are
  // all answered and both kinds have met it a few times. A request hanging on the dead database keeps it
  // held until FAULT_CAP_MS, and fails the checks below.
  const caught = (o: Outcome): boolean => o.startedAt < inEffect + 1000
  const hold = async (): Promise<boolean> =>
    Date.now() - inEffect >= MIN_OUTAGE_MS &&
    first !== undefined &&
    load.outcomes.every(o => !caught(o) || o.endedAt > 0) &&
    (['write', 'read'] as const).every(
      k => load.outcomes.filter(o => o.kind === k && o.startedAt >= inEffect && o.endedAt > 0).length >= 5,
    )
  await eventually(hold, FAULT_CAP_MS, 'the requests caught by the fault answered').catch(() => {})
  const probe = await ready(api)
  t.equal(probe.status, 503, `/ready is 503 while the database is away (${kind})`)
  t.equal(probe.retryAfter, '5', 'with Retry-After')
  t.match(probe.type, /^application\/problem\+json/)
  t.ok(api.current().alive(), 'the API process is still running')
  const endBegan = Date.now()
  t.equal(first?.status, 503, `/ready sent as the fault began was answered 503 before it ended (${kind})`)

  if (kind === 'freeze') pgServer.freeze(false)
  else await pgServer.start()
  const ended = Date.now()
  await eventually(
    async () => (await ready(api)).status === 200 && acknowledgedSince(ended) >= 5,
    RECOVERY_BOUND_MS,
    `the API serving again by itself after ${kind}`,
  )
  const recovered = Date.now()
  t.comment(
    `${kind}: fault in effect after ${inEffect - began} ms, held ${endBegan - inEffect} ms, undone in ${ended - endBegan} ms; ` +
      `API serving writes and /ready 200 ${recovered - ended} ms later`,
  )
  return { began, inEffect, endBegan, ended, recovered }
}

t.test(
  'Postgres stopped, killed and frozen under load: 503s with Retry-After, recovery by itself, no acknowledged write lost or doubled',
  {
    skip: postgresBinDir() === undefined ? 'no Postgres server installed under /usr/lib/postgresql' : false,
  },
  async t => {
    const pgServer = await startThrowawayPostgres(t)
    const tenant = await pgServer.createTenant()
    const api = await startApiProcess(t, { databaseUrl: pgServer.appUrl, env: API_DATABASE_SETTINGS })

    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-drill-edge-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const login = { tenant, login: `drill@${tenant.slug}`, password: 'drill-password' }
    const htpasswdFile = join(dataDir, 'htpasswd')
    writeFileSync(htpasswdFile, `${login.login}:${await hashPassword(login.password, 4)}\n`)
    const edge = await startTestProxy(t, {
      dataDir,
      upstreamUrls: api.url,
      htpasswdFile,
      env: { TENANT_PLANS: `${tenant.slug}=enterprise`, RATE_LIMIT_ENTERPRISE: '1000000' },
    })

    const load = startMarkedWritesLoad(
      { apiUrl: api.url, tenantSlug: tenant.slug, edge: { url: edge.proxyUrl, login, ca: edge.tls.cert } },
      { writers: 6, readers: 3, pauseMs: 25, deadlineMs: REQUEST_DEADLINE_MS, through: 'alternate', graphql: true },
    )
    let loadStopped = false
    t.teardown(async () => {
      if (!loadStopped) await load.stop()
    })

    const faults: Array<[Fault, FaultTimes]> = []
    for (const kind of ['fast', 'immediate', 'freeze'] as const) {
      faults.push([kind, await fault(t, pgServer, api, load, kind)])
    }
    await load.stop()
    loadStopped = true
    const outcomes = load.outcomes
    t.comment(`all: ${outcomeSummary(outcomes)}`)

    t.test('every request was answered, with 2xx or the database-unavailable 503', async t => {
      t.strictSame(
        outcomes.filter(o => o.status === 0).map(o => `${o.marker} ${o.error}`),
        [],
        'no request went unanswered',
      )
      t.comment(`slowest answer: ${Math.max(...outcomes.map(o => o.endedAt - o.startedAt))} ms`)
      const unexpected = outcomes.filter(
        o => o.status !== 0 && !(o.status >= 200 && o.status < 300) && o.status !== 503,
      )
      t.strictSame(
        unexpected.map(o => `${o.protocol} ${o.kind}/${o.via} ${o.status} ${o.code}`),
        [],
        'never a 500, 502 or 504',
      )
      // REST answers a problem (RFC 9457); GraphQL its own error format, with the same code.
      const unlike = outcomes.filter(
        o =>
          o.status === 503 &&
          (o.retryAfter !== '5' ||
            o.code !== 'GH_DATABASE_UNAVAILABLE' ||
            !(o.protocol === 'graphql' || /^application\/problem\+json/.test(o.contentType ?? ''))),
      )
      t.strictSame(
        unlike.map(o => `${o.protocol} ${o.kind}/${o.via} ${o.retryAfter} ${o.contentType} ${o.code}`),
        [],
        'every 503 says the database is unavailable, with Retry-After',
      )
      t.strictSame(
        outcomes
          .filter(o => o.protocol === 'graphql' && o.status === 200 && o.code !== undefined)
          .map(o => `${o.kind} ${o.code}`),
        [],
        'no GraphQL answer was a 200 carrying an error',
      )
      t.ok(api.current().alive(), 'the API never died')
    })

    for (const [kind, times] of faults) {
      t.test(`${kind}: requests caught by the fault were answered before it ended, with 503`, async t => {
        const caught = outcomes.filter(
          o => o.startedAt < times.inEffect + 1000 && (o.endedAt === 0 || o.endedAt > times.inEffect),
        )
        t.strictSame(
          caught
            .filter(o => o.endedAt === 0 || o.endedAt > times.endBegan)
            .map(o => `${o.kind}/${o.via} ${o.status} after ${o.endedAt - o.startedAt} ms`),
          [],
          'none was still waiting when the database came back',
        )
        const during = outcomes.filter(
          o => o.startedAt >= times.inEffect && o.endedAt > 0 && o.endedAt <= times.endBegan,
        )
        t.comment(
          `${kind}: ${outcomeSummary(during)}; the API logged ${loggedErrors(api, times.began, times.endBegan)}`,
        )
        for (const k of ['write', 'read'] as const) {
          const ofKind = during.filter(o => o.kind === k)
          t.ok(ofKind.length >= 5, `${ofKind.length} ${k}s met the fault`)
          t.strictSame(
            ofKind.filter(o => o.status !== 503).map(o => `${o.protocol}/${o.via} ${o.status}`),
            [],
            `every ${k} sent during it was answered 503`,
          )
        }
        t.ok(
          during.some(o => o.kind === 'write' && o.via === 'edge' && o.status === 503),
          'the edge passed the 503s on',
        )
        t.ok(
          during.some(o => o.protocol === 'graphql' && o.status === 503),
          'GraphQL answered 503 too',
        )
      })
    }

    t.test('reconciled with the database: acknowledged writes exist exactly once, none twice', async t => {
      const rows = await pgServer.query<{ name: string; ids: string[] }>(
        'SELECT name, array_agg(id::text) AS ids FROM projects WHERE tenant_id = $1 GROUP BY name',
        [tenant.id],
      )
      const writes = outcomes.filter(o => o.kind === 'write')
      // A write cut off after its COMMIT reached the server was stored, though its client got a 503.
      reconcileWrites(t, new Map(rows.map(row => [row.name, row.ids])), writes, 'may be stored')

      // The API logs each request it receives once: a marker seen twice would be a resent request.
      const received = new Map<string, number>()
      for (const line of api.current().lines('"incoming request"')) {
        if (line.msg === 'incoming request' && typeof line.reqId === 'string') {
          received.set(line.reqId, (received.get(line.reqId) ?? 0) + 1)
        }
      }
      t.strictSame(
        [...received].filter(([, n]) => n > 1).map(([id]) => id),
        [],
        'no request reached the API twice',
      )
      const viaEdge = writes.filter(o => o.via === 'edge')
      t.strictSame(
        viaEdge.filter(o => received.get(o.marker) !== 1).map(o => `${o.marker} ${o.status}`),
        [],
        `each of the ${viaEdge.length} writes sent through the edge reached the API once`,
      )
    })
  },
)
