// Fault drill (issue 5): the API dies or freezes behind the proxy, under load. The API runs as its own
// process (server/main.ts, as `npm start` runs it) on the suite's Postgres (embedded when there is none),
// behind the real proxy over real TLS, while clients keep sending cacheable reads, reads that must reach
// the API (Cache-Control: no-store) and writes.
// - SIGKILL, seen by a proxy in front of that instance alone: 502 problem+json at once (nothing waits for
//   UPSTREAM_TIMEOUT_MS), cached reads served stale within their stale-if-error, and service back as soon
//   as the API is started again on its port.
// - The same kill, seen by proxies balancing over it and a second instance: the first request that finds it
//   gone makes the proxy check its instances at once, so it leaves the rotation within moments (not at the
//   next periodic check); GETs that find it gone are sent to the live one; only writes in flight at the
//   kill (or sent in those moments) fail, none is ever applied twice; started again, it rejoins at the
//   next periodic check.
// - SIGSTOP: 504 after UPSTREAM_TIMEOUT_MS, cached reads stale after it; SIGCONT: service back.
// The proxy is built in this process (real TLS, real sockets) so the drills can read its metrics directly.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { openDrillDatabase } from '../helpers/drill-database.ts'
import { basic, requestEdge, startTestProxy, type TestProxy } from '../helpers/edge-stack.ts'
import {
  cacheOutcome,
  markWhen,
  shotsBetween,
  slowestMs,
  startLoad,
  tally,
  Timeline,
  type LoadClient,
  type Shot,
} from '../helpers/load-timeline.ts'
import { reconcileWrites } from '../helpers/marked-writes-load.ts'
import { startApiProcess, type ApiProcess } from '../helpers/service-processes.ts'

const database = await openDrillDatabase(t)
const READ_PATHS = ['/api/v1/projects?limit=1', '/api/v1/projects?limit=2', '/api/v1/projects?limit=3']
const UNAVAILABLE = 'urn:gatehouse:problem:upstream-unavailable'
const TIMEOUT = 'urn:gatehouse:problem:upstream-timeout'
const FROZEN_TIMEOUT_MS = 2000
const reader = { login: `reader@${database.tenants.readers}`, password: 'reader-password' }
const writer = { login: `writer@${database.tenants.writers}`, password: 'writer-password' }
const run = Math.random().toString(36).slice(2, 8)

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-api-drill-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const htpasswdFile = join(dir, 'htpasswd')
writeFileSync(
  htpasswdFile,
  `${reader.login}:${await hashPassword(reader.password, 4)}\n${writer.login}:${await hashPassword(writer.password, 4)}\n`,
)

// Two API processes for the whole file (starting one costs seconds on a busy machine): the first one is
// killed, restarted and frozen; the second keeps serving beside it for the balanced proxies (which need a
// database both can share).
const apiSettings = (): { databaseUrl?: string; env: Record<string, string> } => {
  const settings = database.apiSettings()
  return { ...settings, env: { ...settings.env, CACHE_S_MAXAGE_SECONDS: '1' } }
}
const [first, second] = database.shared
  ? await Promise.all([startApiProcess(t, apiSettings()), startApiProcess(t, apiSettings())])
  : [await startApiProcess(t, apiSettings()), undefined]

let proxies = 0
async function startProxy(t: Test, upstreamUrls: string, env: Record<string, string> = {}): Promise<TestProxy> {
  const dataDir = join(dir, `proxy-${proxies++}`)
  mkdirSync(dataDir)
  return startTestProxy(t, { dataDir, upstreamUrls, htpasswdFile, env: { RATE_LIMIT_FREE: '1000000', ...env } })
}

const as = (login: { login: string; password: string }): string => basic({ ...login, tenant: { id: '', slug: '' } })

/** Readers of cacheable URLs, a reader that always goes to the API, and a writer whose every project name is unique. */
function clients(label: string): LoadClient[] {
  return [
    { name: 'reader-1', authorization: as(reader), next: i => ({ kind: 'get-cached', path: READ_PATHS[i % 3]! }) },
    {
      name: 'reader-2',
      authorization: as(reader),
      next: i => ({ kind: 'get-cached', path: READ_PATHS[(i + 1) % 3]! }),
    },
    {
      name: 'no-store',
      authorization: as(reader),
      next: () => ({
        kind: 'get-no-store',
        path: '/api/v1/projects?limit=1',
        headers: { 'cache-control': 'no-store' },
      }),
    },
    {
      name: 'writer',
      authorization: as(writer),
      next: i => {
        const marker = `drill-${run}-${label}-alone-${i}`
        return {
          kind: 'post',
          method: 'POST',
          path: '/api/v1/projects',
          body: JSON.stringify({ name: marker }),
          marker,
        }
      },
    },
  ]
}

/** Every read URL answered and stored once, so that the cache holds something to fall back on. */
async function warm(t: Test, proxy: TestProxy): Promise<void> {
  for (const path of READ_PATHS) {
    const response = await requestEdge(`${proxy.proxyUrl}${path}`, proxy.agents.h2, {
      headers: { authorization: as(reader) },
    })
    t.equal(response.status, 200, `warmed ${path}`)
  }
}

const describe = (shot: Shot): string =>
  `${shot.startedAt}-${shot.endedAt} ms ${shot.method} ${shot.path}: ${shot.status || shot.error} ${shot.problemType ?? ''} ${cacheOutcome(shot)}`
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const served = (shot: Shot): boolean => shot.status >= 200 && shot.status < 300

/**
 * Reconciled with the database (while the API runs: Postgres only). A write in flight at a kill may be stored
 * unacknowledged.
 */
async function checkWrites(t: Test, label: string, shots: Shot[]): Promise<void> {
  if (!database.shared) return
  const writes = shots
    .filter(shot => shot.method === 'POST')
    .map(shot => ({ marker: shot.marker!, acknowledged: shot.status === 201 }))
  t.ok(
    writes.some(write => write.acknowledged),
    `${writes.filter(write => write.acknowledged).length} writes acknowledged`,
  )
  reconcileWrites(t, await database.projects(`drill-${run}-${label}-`), writes, 'may be stored')
}

const inRotation = async (proxy: TestProxy, api: ApiProcess): Promise<number> =>
  (await proxy.proxy.edgeMetrics.registry.getSingleMetric('gatehouse_proxy_upstream_up')!.get()).values.find(
    value => value.labels.upstream === api.url,
  )?.value ?? -1

/** The no-store read of each balanced proxy: its own URL, so the API's log tells which proxy sent it. */
const BALANCED_READS = { regular: '/api/v1/projects?limit=4', passive: '/api/v1/projects?limit=5' }

/** A reader that always reaches the API and a writer, for a balanced proxy. */
const balancedClients = (label: string, proxyName: keyof typeof BALANCED_READS): LoadClient[] => [
  {
    name: `${proxyName}-no-store`,
    authorization: as(reader),
    next: () => ({ kind: 'get-no-store', path: BALANCED_READS[proxyName], headers: { 'cache-control': 'no-store' } }),
  },
  {
    name: `${proxyName}-writer`,
    authorization: as(writer),
    next: i => {
      const marker = `drill-${run}-${label}-${proxyName}-${i}`
      return { kind: 'post', method: 'POST', path: '/api/v1/projects', body: JSON.stringify({ name: marker }), marker }
    },
  },
]

t.test('an API instance SIGKILLed under load and started again on its port', async t => {
  const timeline = new Timeline()
  // Alone behind a proxy with the default 30 s upstream timeout, which must play no part in how fast the 502s come.
  const patient = await startProxy(t, first.url)
  // With a second instance, behind two proxies: one with the default health-check interval (2000 ms), as an
  // operator runs it; one whose periodic check is ten minutes away, so only requests finding it dead can take it out.
  const pair =
    second === undefined
      ? undefined
      : {
          regular: await startProxy(t, `${first.url},${second.url}`),
          passive: await startProxy(t, `${first.url},${second.url}`, { UPSTREAM_HEALTH_INTERVAL_MS: '600000' }),
        }
  if (pair === undefined) {
    t.comment(
      'no Postgres (DATABASE_URL): the balanced part is left out, two processes cannot share an embedded database',
    )
  }
  await warm(t, patient)
  const alone = startLoad({ url: patient.proxyUrl, dispatcher: patient.agents.h2, timeline, clients: clients('kill') })
  const balanced =
    pair === undefined
      ? []
      : (['regular', 'passive'] as const).map(name =>
          startLoad({
            url: pair[name].proxyUrl,
            dispatcher: pair[name].agents.h2,
            timeline,
            clients: balancedClients('kill', name),
          }),
        )
  t.teardown(() => Promise.all([alone, ...balanced].map(load => load.stop())))
  const [firstStart, secondStart] = [first.requestsSeen('/api/'), second?.requestsSeen('/api/') ?? 0]
  await markWhen(
    timeline,
    'load running on every instance',
    async () =>
      first.requestsSeen('/api/') > firstStart + 10 &&
      (second === undefined || second.requestsSeen('/api/') > secondStart + 5),
    10_000,
  )

  timeline.mark('API SIGKILL')
  await first.kill('SIGKILL')
  const gone = timeline.mark('API process gone')
  const out =
    pair === undefined
      ? undefined
      : await Promise.all([
          markWhen(
            timeline,
            'out of rotation at the regular proxy',
            async () => (await inRotation(pair.regular, first)) === 0,
            10_000,
          ),
          markWhen(
            timeline,
            'out of rotation at the passive proxy',
            async () => (await inRotation(pair.passive, first)) === 0,
            10_000,
          ),
        ])
  await sleep(1000)
  const starting = timeline.mark('API starting again on the same port')
  await first.start()
  const ready = timeline.mark('API ready')
  await markWhen(
    timeline,
    'recovered alone: reads that need the API and writes succeed again',
    async () =>
      ['get-no-store', 'post'].every(kind =>
        shotsBetween(alone.shots, ready).some(shot => shot.kind === kind && served(shot)),
      ),
    10_000,
  )
  if (pair !== undefined) {
    await markWhen(
      timeline,
      'back in rotation at the regular proxy',
      async () => (await inRotation(pair.regular, first)) === 1,
      10_000,
    )
    const since = first.requestsSeen(BALANCED_READS.regular)
    await markWhen(
      timeline,
      'the regular proxy sends it requests again',
      async () => first.requestsSeen(BALANCED_READS.regular) > since + 3,
      10_000,
    )
  }
  await sleep(500)
  const shots = await alone.stop()
  const [regularShots, passiveShots] = await Promise.all(balanced.map(load => load.stop()))
  t.comment(`timeline:\n${timeline.describe()}`)

  const down = shotsBetween(shots, gone, starting)
  t.comment(`alone, while the API was dead: ${JSON.stringify(tally(down))}`)
  const cached = down.filter(shot => shot.kind === 'get-cached')
  t.ok(cached.length > 0 && down.length > cached.length, 'the clients kept going')
  t.same(
    cached
      .filter(
        shot =>
          !(
            shot.status === 200 &&
            (cacheOutcome(shot) === 'hit' || cacheOutcome(shot) === 'fwd=stale; fwd-status=502; detail=stale-if-error')
          ),
      )
      .map(describe),
    [],
    'cached reads: served from the cache, stale once past freshness (stale-if-error)',
  )
  t.ok(
    cached.some(shot => cacheOutcome(shot).startsWith('fwd=stale')),
    'some of them stale',
  )
  t.same(
    down
      .filter(shot => shot.kind !== 'get-cached' && (shot.status !== 502 || shot.problemType !== UNAVAILABLE))
      .map(describe),
    [],
    'reads that need the API and writes: 502 upstream-unavailable problem+json',
  )
  t.ok(slowestMs(down) < 5000, `promptly: slowest ${slowestMs(down)} ms while UPSTREAM_TIMEOUT_MS is 30000`)
  t.same(
    shotsBetween(shots, ready)
      .filter(shot => !served(shot))
      .map(describe),
    [],
    'everything served once the API is ready again',
  )
  t.same(
    shots.filter(shot => shot.status === 0 || (shot.status >= 500 && shot.status !== 502)).map(describe),
    [],
    'nothing else failed, nothing unanswered',
  )

  const all = [...shots, ...(regularShots ?? []), ...(passiveShots ?? [])]
  if (pair !== undefined && out !== undefined) {
    const [outRegular, outPassive] = out
    const failed = [...regularShots!, ...passiveShots!].filter(shot => !served(shot))
    t.comment(`balanced, failed: ${JSON.stringify(failed.map(describe))}`)
    t.same(
      failed.filter(shot => shot.status !== 502 || shot.problemType !== UNAVAILABLE).map(describe),
      [],
      'balanced: failures are 502 upstream-unavailable problem+json, nothing unanswered',
    )
    t.same(
      failed.filter(shot => shot.method === 'GET').map(describe),
      [],
      'balanced: no GET is lost, not even one in flight at the kill: it is sent to the live instance',
    )
    t.same(
      [
        ...regularShots!.filter(shot => shot.startedAt >= outRegular),
        ...passiveShots!.filter(shot => shot.startedAt >= outPassive),
      ]
        .filter(shot => !served(shot))
        .map(describe),
      [],
      'balanced: nothing fails once the dead instance is out of rotation',
    )
    // A refused or reset request makes the pool check at once (proxy/upstream/upstream-pool.ts, checkSoon);
    // the periodic check (every UPSTREAM_HEALTH_INTERVAL_MS) is the backstop, and what brings an instance back.
    t.ok(
      outPassive - gone < 3000,
      `the first refused request takes it out: ${outPassive - gone} ms after it died, the periodic check being minutes away`,
    )
    t.ok(outRegular - gone < 3000, `likewise at the regular proxy: ${outRegular - gone} ms`)
    t.equal(await inRotation(pair.passive, first), 0, 'the passive proxy leaves it out until its periodic check passes')
  }
  t.same(
    all.filter(shot => shot.securityHeaders !== true).map(describe),
    [],
    "every answer carried the edge's security headers, stale and errors too",
  )
  await checkWrites(t, 'kill', all)
})

t.test('the API frozen (SIGSTOP) under load, then thawed', async t => {
  const api = first
  t.teardown(() => api.thaw()) // never leave it frozen
  const timeline = new Timeline()
  const impatient = await startProxy(t, api.url, { UPSTREAM_TIMEOUT_MS: String(FROZEN_TIMEOUT_MS) })
  await warm(t, impatient)
  const load = startLoad({
    url: impatient.proxyUrl,
    dispatcher: impatient.agents.h2,
    timeline,
    clients: clients('freeze'),
  })
  t.teardown(() => load.stop())
  await sleep(1000)
  const frozen = timeline.mark('API SIGSTOP')
  api.freeze()
  // Long enough that the window checked below outlasts the entry's freshness (s-maxage=5): on a fast machine the
  // cached reads may otherwise all land while the entry is still fresh, and stale-if-error is never exercised.
  await sleep(Math.max(FROZEN_TIMEOUT_MS * 2 + 1500, FROZEN_TIMEOUT_MS + 1000 + 6000))
  const thawed = timeline.mark('API SIGCONT')
  api.thaw()
  const recovered = await markWhen(
    timeline,
    'recovered after SIGCONT',
    async () =>
      ['get-no-store', 'post'].every(kind =>
        shotsBetween(load.shots, thawed).some(shot => shot.kind === kind && served(shot)),
      ),
    10_000,
  )
  await sleep(500)
  const shots = await load.stop()
  t.comment(`timeline:\n${timeline.describe()}`)

  // Requests sent early enough to run into the timeout before SIGCONT (undici checks its timers about
  // twice a second, so a timeout fires up to ~0.5 s late).
  const stuck = shots.filter(shot => shot.startedAt >= frozen && shot.startedAt <= thawed - FROZEN_TIMEOUT_MS - 1000)
  t.comment(`sent while the API was frozen: ${JSON.stringify(tally(stuck))}`)
  const waited = (shot: Shot): number => shot.endedAt - shot.startedAt
  const timedOut = stuck.filter(shot => shot.kind !== 'get-cached')
  t.ok(timedOut.length > 0, 'reads that need the API and writes were sent while it was frozen')
  t.same(
    timedOut
      .filter(shot => shot.status !== 504 || shot.problemType !== TIMEOUT || waited(shot) < FROZEN_TIMEOUT_MS - 100)
      .map(describe),
    [],
    'they got 504 upstream-timeout problem+json, after UPSTREAM_TIMEOUT_MS',
  )
  const stale = stuck.filter(shot => shot.kind === 'get-cached' && cacheOutcome(shot) !== 'hit')
  t.ok(stale.length > 0, 'cached reads went past freshness while it was frozen')
  t.same(
    stale
      .filter(shot => shot.status !== 200 || cacheOutcome(shot) !== 'fwd=stale; fwd-status=504; detail=stale-if-error')
      .map(describe),
    [],
    'cached reads past freshness: stale after the timeout',
  )
  t.same(
    stuck.filter(shot => waited(shot) > FROZEN_TIMEOUT_MS + 1500).map(describe),
    [],
    'nobody waited for more than one timeout (requests collapsed on a key that timed out get its stale entry too)',
  )
  t.same(
    shotsBetween(shots, recovered)
      .filter(shot => !served(shot))
      .map(describe),
    [],
    'everything served after recovery',
  )
  t.same(
    shots.filter(shot => shot.securityHeaders !== true).map(describe),
    [],
    "every answer carried the edge's security headers, stale and errors too",
  )
  await checkWrites(t, 'freeze', shots)
})
