// Fault drill (issue 5): Postgres stops and comes back while the API is under load.
// A private Postgres (test/helpers/throwaway-postgres.ts; never the shared one), the real API as a process,
// and the real edge proxy in front of it for half the writes. While writers and readers keep going, the
// server is stopped twice — `pg_ctl stop -m fast` (open transactions rolled back, clients told) and
// `-m immediate` (every server process killed, in-flight transactions cut mid-way, crash recovery on start) —
// and started again on the same port. The drill holds the API to:
// - every request answered within a bound: no hang, and the process never dies;
// - while the database is down, every write and read gets 503 problem+json with Retry-After (never 500),
//   and /ready is 503;
// - once it is back, 2xx again with nobody touching the API, /ready 200;
// - every write acknowledged with 2xx exists exactly once; no write exists twice, and no request the edge
//   forwarded reached the API twice (the edge must not resend a POST).
// A write in flight when its connection dies may have committed (COMMIT reached the server, its answer
// did not reach us) while its client got a 503: that row exists though it was never acknowledged. That is
// allowed — the client was told nothing succeeded and may check or retry — and is counted, not failed.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js'
import { startMarkedWritesLoad, type Load, type Outcome } from '../helpers/marked-writes-load.js'
import { eventually, startTestProxy } from '../helpers/edge-stack.js'
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js'
import { hashPassword } from '../../proxy/auth/htpasswd-file.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Generous for a loaded 2-core CI machine: what matters is an answer instead of a hang. The API's own
// bounds are well inside it (connect 5 s, wait for a connection 5 s, transaction 10 s).
const REQUEST_DEADLINE_MS = 25_000
const OUTAGE_MS = 2500
const RECOVERY_BOUND_MS = 30_000

const ready = async (api: ApiProcess): Promise<{ status: number, retryAfter?: string, type?: string }> => {
  const response = await request(`${api.url}/ready`, { headersTimeout: REQUEST_DEADLINE_MS, bodyTimeout: REQUEST_DEADLINE_MS })
  await response.body.dump()
  return { status: response.statusCode, retryAfter: response.headers['retry-after'] as string | undefined, type: response.headers['content-type'] as string | undefined }
}

const summary = (outcomes: Outcome[]): string => {
  const counts = new Map<string, number>()
  for (const o of outcomes) {
    const key = `${o.kind}/${o.via} ${o.status === 0 ? `no answer (${o.error?.trim()})` : o.status}${o.code !== undefined ? ` ${o.code}` : ''}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].sort().map(([key, n]) => `${key}: ${n}`).join(', ')
}

/** What the API logged about a failed request: the error behind a 500 is never in the response. */
const loggedError = (api: ApiProcess, requestId: string): string => {
  const line = api.lines.find((l) => l.reqId === requestId && l.msg === 'request failed')
  const err = line?.err as { type?: string, message?: string, code?: string, stack?: string } | undefined
  return err === undefined ? 'not logged' : `${err.type} ${err.code ?? ''} ${err.message} ${err.stack?.split('\n').slice(1, 4).join(' | ') ?? ''}`
}

interface OutageTimes { stopBegan: number, stopped: number, startBegan: number, started: number, recovered: number }

/** Stops Postgres with `mode` under the running load, holds the outage, starts it, waits for recovery. */
async function outage (t: Test, pgServer: ThrowawayPostgres, api: ApiProcess, load: Load, mode: 'fast' | 'immediate'): Promise<OutageTimes> {
  const acknowledged = (after: number): number => load.outcomes.filter((o) => o.kind === 'write' && o.status === 201 && o.startedAt >= after).length
  const warmFrom = Date.now()
  await eventually(async () => acknowledged(warmFrom) >= 10, RECOVERY_BOUND_MS, 'writes succeeding before the outage')

  const stopBegan = Date.now()
  await pgServer.stop(mode)
  const stopped = Date.now()
  t.comment(`pg_ctl stop -m ${mode} took ${stopped - stopBegan} ms`)
  // Hold the outage until both kinds of request have met it a few times (and at least OUTAGE_MS).
  const during = (o: Outcome): boolean => o.startedAt >= stopped
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
  await eventually(async () => ['write', 'read'].every((kind) => load.outcomes.filter((o) => o.kind === kind && during(o) && o.endedAt > 0).length >= 5),
    RECOVERY_BOUND_MS, 'requests during the outage')
  const probe = await ready(api)
  t.equal(probe.status, 503, `/ready is 503 while Postgres is down (-m ${mode})`)
  t.equal(probe.retryAfter, '5', 'with Retry-After')
  t.match(probe.type, /^application\/problem\+json/)
  t.ok(api.alive(), 'the API process is still running')

  const startBegan = Date.now()
  await pgServer.start()
  const started = Date.now()
  await eventually(async () => (await ready(api)).status === 200 && acknowledged(started) >= 5, RECOVERY_BOUND_MS,
    `the API serving again by itself after -m ${mode}`)
  const recovered = Date.now()
  t.comment(`-m ${mode}: Postgres back after ${started - startBegan} ms; API serving writes and /ready 200 ${recovered - started} ms later`)
  return { stopBegan, stopped, startBegan, started, recovered }
}

t.test('Postgres stopped and restarted under load: 503s with Retry-After, recovery by itself, no acknowledged write lost or doubled', {
  skip: postgresBinDir() === undefined ? 'no Postgres server installed under /usr/lib/postgresql' : false,
}, async (t) => {
  const pgServer = await startThrowawayPostgres(t)
  const tenant = await pgServer.createTenant()
  const api = await startApiProcess(t, { DATABASE_URL: pgServer.appUrl, DATA_DIR: t.testdir() })

  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-drill-edge-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const login = { tenant, login: `drill@${tenant.slug}`, password: 'drill-password' }
  const htpasswdFile = join(dataDir, 'htpasswd')
  writeFileSync(htpasswdFile, `${login.login}:${await hashPassword(login.password, 4)}\n`)
  const edge = await startTestProxy(t, {
    dataDir, upstreamUrls: api.url, htpasswdFile,
    env: { TENANT_PLANS: `${tenant.slug}=enterprise`, RATE_LIMIT_ENTERPRISE: '1000000' },
  })

  const load = startMarkedWritesLoad({ apiUrl: api.url, tenantSlug: tenant.slug, edge: { url: edge.proxyUrl, login, ca: edge.tls.cert } },
    { writers: 6, readers: 3, pauseMs: 25, deadlineMs: REQUEST_DEADLINE_MS })
  let stopped = false
  t.teardown(async () => { if (!stopped) await load.stop() })

  const outages: Array<[string, OutageTimes]> = []
  for (const mode of ['fast', 'immediate'] as const) outages.push([mode, await outage(t, pgServer, api, load, mode)])
  await new Promise((resolve) => setTimeout(resolve, 500))
  await load.stop()
  stopped = true
  const outcomes = load.outcomes
  t.comment(`all: ${summary(outcomes)}`)

  t.test('every request was answered within the bound, with 2xx or 503', async (t) => {
    const unanswered = outcomes.filter((o) => o.status === 0)
    t.strictSame(unanswered.map((o) => `${o.marker} ${o.error}`), [], 'no request went unanswered')
    const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.startedAt))
    t.comment(`slowest answer: ${slowest} ms`)
    const unexpected = outcomes.filter((o) => o.status !== 0 && !(o.status >= 200 && o.status < 300) && o.status !== 503)
    t.strictSame(unexpected.map((o) => `${o.kind}/${o.via} ${o.status} ${o.code}: ${loggedError(api, o.marker)}`), [], 'never a 500, 502 or 504')
    const badUnavailable = outcomes.filter((o) => o.status === 503 && (o.retryAfter !== '5' || !/^application\/problem\+json/.test(o.contentType ?? '') || o.code !== 'GH_DATABASE_UNAVAILABLE'))
    t.strictSame(badUnavailable.map((o) => `${o.kind}/${o.via} ${o.retryAfter} ${o.contentType} ${o.code}`), [], 'every 503 is the database-unavailable problem with Retry-After')
    t.ok(api.alive(), 'the API never died')
  })

  for (const [mode, times] of outages) {
    t.test(`while down after -m ${mode}, writes and reads get 503 (and none succeeds)`, async (t) => {
      const during = outcomes.filter((o) => o.startedAt >= times.stopped && o.endedAt <= times.startBegan)
      t.comment(`during -m ${mode}: ${summary(during)}`)
      for (const kind of ['write', 'read'] as const) {
        const ofKind = during.filter((o) => o.kind === kind)
        t.ok(ofKind.length >= 5, `${ofKind.length} ${kind}s met the outage`)
        t.strictSame(ofKind.filter((o) => o.status !== 503).map((o) => `${o.via} ${o.status}`), [], `every ${kind} was answered 503`)
      }
      t.ok(during.some((o) => o.kind === 'write' && o.via === 'edge'), 'the edge passed the 503s on too')
    })
  }

  t.test('reconciled with the database: acknowledged writes exist exactly once, none twice', async (t) => {
    const rows = await pgServer.query<{ name: string, ids: string[] }>(
      'SELECT name, array_agg(id::text) AS ids FROM projects WHERE tenant_id = $1 GROUP BY name', [tenant.id])
    const stored = new Map(rows.map((row) => [row.name, row.ids]))
    const writes = outcomes.filter((o) => o.kind === 'write')
    const acknowledged = writes.filter((o) => o.status === 201)
    const lost = acknowledged.filter((o) => stored.get(o.marker)?.length !== 1 || stored.get(o.marker)![0] !== o.id)
    t.strictSame(lost.map((o) => `${o.marker} → ${JSON.stringify(stored.get(o.marker))}`), [], `all ${acknowledged.length} acknowledged writes are stored once, with the id they were answered with`)
    t.strictSame(rows.filter((row) => row.ids.length > 1).map((row) => row.name), [], 'no write is stored twice')
    const known = new Set(writes.map((o) => o.marker))
    t.strictSame(rows.filter((row) => !known.has(row.name)).map((row) => row.name), [], 'nothing was stored that no one sent')
    const committedUnacknowledged = writes.filter((o) => o.status !== 201 && stored.has(o.marker))
    t.comment(`${writes.length} writes: ${acknowledged.length} acknowledged, ${writes.length - acknowledged.length} refused, ` +
      `${committedUnacknowledged.length} of those committed anyway (cut after COMMIT): ${committedUnacknowledged.map((o) => o.marker).join(' ')}`)

    // The API logs each request it receives once: a marker seen twice would be a resent request.
    const received = new Map<string, number>()
    for (const line of api.lines) {
      if (line.msg === 'incoming request' && typeof line.reqId === 'string') received.set(line.reqId, (received.get(line.reqId) ?? 0) + 1)
    }
    t.strictSame([...received].filter(([, n]) => n > 1).map(([id]) => id), [], 'no request reached the API twice')
    t.ok(writes.filter((o) => o.via === 'edge').every((o) => o.status === 0 || received.get(o.marker) === 1), 'every write the edge answered reached the API exactly once')
  })
})
