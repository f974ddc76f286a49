// Fault drill (issue 5): Redis goes away under load and comes back. The proxy runs as its own process with
// REDIS_URL on a throwaway redis-server (never the shared 6379), in front of the real API, while a few
// clients keep sending cacheable reads, reads never seen before, and writes. Redis is SIGKILLed, and later
// stopped gracefully with SHUTDOWN NOSAVE; each time it is started again, empty, on the same port.
// During an outage every request is answered, promptly, with the configured fallback: fail-open counts
// budgets locally and bypasses the cache (Cache-Status says so); fail-closed answers 503 problem+json.
// Afterwards the proxy reconnects by itself: counters and responses are written to Redis again, hits
// come from it (a second proxy on the same Redis is served the first one's entries), and each outage is
// logged once (not per request) and shows in gatehouse_proxy_redis_up.
// Fail-open also rides out a frozen Redis (SIGSTOP: connections open, nothing answered), which raises no
// error of its own: it is noticed, requests stop waiting on it, and a write acknowledged meanwhile is
// not hidden by a cached read once Redis answers again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { pgliteBackend, type TestTenant } from '../helpers/backends.ts'
import { buildTestApp } from '../helpers/build-app.ts'
import { basic, requestEdge, startTestProxy, type Login, type TestProxy } from '../helpers/edge-stack.ts'
import {
  cacheOutcome,
  markWhen,
  shotsBetween,
  slowestMs,
  slowestShot,
  startLoad,
  tally,
  Timeline,
  type Load,
  type Shot,
} from '../helpers/load-timeline.ts'
import {
  startProxyProcess,
  startRedisServer,
  type ProxyProcess,
  type RedisServer,
} from '../helpers/service-processes.ts'

/** No request waits longer than this, outage or not (Redis commands fail fast: see redis-connection.ts). */
const ANSWER_BOUND_MS = 5000
const LIMITED_BUDGET = 4

const backend = await pgliteBackend()
t.teardown(() => backend.close())
// Reads stay fresh for 30 s: a cached entry that outlives a write would show (see the frozen round).
const api = await buildTestApp(t, backend, { CACHE_S_MAXAGE_SECONDS: '30' })
await api.listen({ host: '127.0.0.1', port: 0 })
const apiUrl = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`
const [readers, writers, limitedTenant, auditors] = await Promise.all([
  backend.createTenant(),
  backend.createTenant(),
  backend.createTenant(),
  backend.createTenant(),
])

interface Drill {
  failOpen: boolean
  redis: RedisServer
  proxy: ProxyProcess
  second: TestProxy
  reader: Login
  /** One login per outage, on the free plan: its budget shows whether counting still happens. */
  limited: Login[]
  /** Reads its list (cached) and writes while Redis is frozen. */
  auditor: Login
  timeline: Timeline
  load: Load
}

const login = async (tenant: TestTenant, user: string): Promise<Login & { line: string }> => {
  const password = `pw-${user}-${tenant.slug}`
  return {
    tenant,
    login: `${user}@${tenant.slug}`,
    password,
    line: `${user}@${tenant.slug}:${await hashPassword(password, 4)}`,
  }
}

/** Redis and the proxies for one mode; `begin` starts the load (in the subtest that runs the drill). */
async function prepareDrill(t: Test, failOpen: boolean): Promise<{ begin(t: Test): Promise<Drill> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-drill-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [reader, writer, auditor, ...limited] = await Promise.all([
    login(readers, 'reader'),
    login(writers, 'writer'),
    login(auditors, 'auditor'),
    login(limitedTenant, 'limited0'),
    login(limitedTenant, 'limited1'),
  ])
  const htpasswdFile = join(dir, 'htpasswd')
  writeFileSync(htpasswdFile, [reader, writer, auditor, ...limited].map(entry => entry.line).join('\n') + '\n')

  const redis = await startRedisServer(t)
  const env = {
    REDIS_URL: redis.url,
    RATE_LIMIT_FAIL_OPEN: String(failOpen),
    RATE_LIMIT_FREE: String(LIMITED_BUDGET),
    RATE_LIMIT_PRO: '1000000',
    TENANT_PLANS: `${readers.slug}=pro,${writers.slug}=pro,${auditors.slug}=pro`,
  }
  const [proxy, second] = await Promise.all([
    startProxyProcess(t, { upstreamUrls: apiUrl, htpasswdFile, env }),
    startTestProxy(t, { dataDir: dir, upstreamUrls: apiUrl, htpasswdFile, env }),
  ])
  return { begin: async t => begin(t, { failOpen, redis, proxy, second, reader, writer, limited, auditor }) }
}

async function begin(t: Test, parts: Omit<Drill, 'timeline' | 'load'> & { writer: Login }): Promise<Drill> {
  const { proxy, reader, writer, auditor } = parts
  // One request per login first: the first answers (cold code paths, first bcrypt checks) are not what is measured.
  for (const who of [reader, writer, auditor]) {
    await requestEdge(`${proxy.url}/api/v1/projects?limit=1`, proxy.agent, { as: who })
  }
  const timeline = new Timeline()
  const load = startLoad({
    url: proxy.url,
    dispatcher: proxy.agent,
    timeline,
    answerWithinMs: 20_000,
    clients: [
      // Two readers over the same three URLs: after the first miss, hits (from Redis: the proxy keeps none itself).
      {
        name: 'reader-1',
        authorization: basic(reader),
        next: i => ({ kind: 'get-cacheable', path: `/api/v1/projects?limit=${1 + (i % 3)}` }),
      },
      {
        name: 'reader-2',
        authorization: basic(reader),
        next: i => ({ kind: 'get-cacheable', path: `/api/v1/projects?limit=${1 + ((i + 1) % 3)}` }),
      },
      {
        name: 'explorer',
        authorization: basic(reader),
        next: i => ({ kind: 'get-new', path: `/api/v1/tasks?limit=1&q=new-${i}` }),
      },
      {
        name: 'writer',
        authorization: basic(writer),
        next: i => ({
          kind: 'post',
          method: 'POST',
          path: '/api/v1/projects',
          body: JSON.stringify({ name: `drill ${i}` }),
        }),
      },
    ],
  })
  t.teardown(() => load.stop())
  timeline.mark('load started')
  return { ...parts, timeline, load }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Stops Redis one way, checks what the clients got meanwhile, starts it again and checks the proxy came back to it. */
async function outage(t: Test, drill: Drill, how: 'SIGKILL' | 'SHUTDOWN NOSAVE', round: number): Promise<void> {
  const { timeline, redis, proxy, load } = drill
  await markWhen(
    timeline,
    `round ${round}: hits served from Redis`,
    async () => load.shots.some(shot => shot.startedAt > timeline.now() - 1000 && cacheOutcome(shot) === 'hit'),
    10_000,
  )

  timeline.mark(`round ${round}: redis ${how}`)
  if (how === 'SIGKILL') await redis.kill()
  else await redis.shutdownNoSave()
  const noticed = await markWhen(
    timeline,
    `round ${round}: outage noticed (gatehouse_proxy_redis_up 0)`,
    async () => (await proxy.metric('gatehouse_proxy_redis_up')) === 0,
    10_000,
  )

  // Counting goes on without Redis (fail-open) or nothing is served (fail-closed): a fresh free-plan login spends its
  // budget.
  const limited: number[] = []
  for (let i = 0; i < LIMITED_BUDGET + 2; i++) {
    limited.push(
      (await requestEdge(`${proxy.url}/api/v1/projects`, proxy.agent, { as: drill.limited[round - 1]! })).status,
    )
  }
  await sleep(1500)
  const restarted = timeline.mark(`round ${round}: redis-server started again (empty) on the same port`)
  await redis.start()

  const during = shotsBetween(load.shots, noticed, restarted)
  t.comment(`round ${round} (${how}), during the outage: ${JSON.stringify(tally(during))}`)
  t.ok(
    during.length >= 8,
    `round ${round}: the clients kept being answered during the outage (${during.length} answers)`,
  )
  if (drill.failOpen) {
    t.same(
      limited,
      [...Array(LIMITED_BUDGET).fill(200), 429, 429],
      'fail-open: budgets are counted locally and still enforced',
    )
    t.same(
      during.filter(shot => shot.status !== 200 && shot.status !== 201).map(describe),
      [],
      'fail-open: every request served',
    )
    t.same(
      during.filter(shot => shot.rateLimitRemaining === undefined).map(describe),
      [],
      'each one counted (RateLimit-Remaining)',
    )
    t.same(
      during
        .filter(
          shot =>
            shot.method === 'GET' && cacheOutcome(shot) !== 'fwd=bypass; fwd-status=200; detail=store-unavailable',
        )
        .map(describe),
      [],
      'reads bypass the cache, and Cache-Status says why',
    )
    t.same(
      during
        .filter(shot => shot.method === 'POST' && cacheOutcome(shot) !== 'fwd=method; fwd-status=201')
        .map(describe),
      [],
      'writes go through',
    )
  } else {
    t.same(limited, Array(LIMITED_BUDGET + 2).fill(503), 'fail-closed: nothing is served uncounted')
    t.same(
      during
        .filter(shot => shot.status !== 503 || shot.problemType !== 'urn:gatehouse:problem:rate-limit-unavailable')
        .map(describe),
      [],
      'fail-closed: every request refused with 503 rate-limit-unavailable problem+json',
    )
  }

  // Back by itself: ioredis retries every ≤ 2 s (retryStrategy in redis-connection.ts).
  const reconnected = await markWhen(
    timeline,
    `round ${round}: proxy reconnected (gatehouse_proxy_redis_up 1)`,
    async () => (await proxy.metric('gatehouse_proxy_redis_up')) === 1,
    10_000,
  )
  await markWhen(
    timeline,
    `round ${round}: rate-limit counters in Redis again`,
    async () => (await redis.inspect.keys('gatehouse:rate-limit:*')).length > 0,
    5000,
  )
  await markWhen(
    timeline,
    `round ${round}: responses stored in Redis again`,
    async () => (await redis.inspect.keys('gatehouse:cache:gatehouse-responses:*')).length > 0,
    5000,
  )
  await markWhen(
    timeline,
    `round ${round}: hits from Redis again`,
    async () => shotsBetween(load.shots, reconnected).some(shot => cacheOutcome(shot) === 'hit'),
    10_000,
  )
  // The second proxy sent nothing since the outage: its first answer is a hit only if the first proxy's entry is there.
  await markWhen(
    timeline,
    `round ${round}: the first proxy stored /api/v1/projects?limit=1 again`,
    async () =>
      shotsBetween(load.shots, reconnected).some(
        shot => shot.path === '/api/v1/projects?limit=1' && /stored|^hit$/.test(cacheOutcome(shot)),
      ),
    10_000,
  )
  await markWhen(
    timeline,
    `round ${round}: the second proxy reconnected too`,
    async () => (await drill.second.proxy.edgeMetrics.redisUp.get()).values[0]?.value === 1,
    10_000,
  )
  const shared = await requestEdge(`${drill.second.proxyUrl}/api/v1/projects?limit=1`, drill.second.agents.h2, {
    as: drill.reader,
  })
  t.match(
    { status: shared.status, cacheStatus: shared.headers['cache-status'] },
    { status: 200, cacheStatus: /^Gatehouse; hit/ },
    `round ${round}: a second proxy on the same Redis is served the first one's entry`,
  )
}

/** Freezes Redis (fail-open only), checks the proxy stops waiting on it and loses no write, then thaws it. */
async function frozen(t: Test, drill: Drill): Promise<void> {
  const { timeline, redis, proxy, load, auditor } = drill
  const list = async (): Promise<{ status: number; names: string[]; cacheStatus: string }> => {
    const response = await requestEdge(`${proxy.url}/api/v1/projects?limit=100`, proxy.agent, { as: auditor })
    return {
      status: response.status,
      names: response.json<{ data: Array<{ name: string }> }>().data.map(project => project.name),
      cacheStatus: String(response.headers['cache-status']),
    }
  }
  await list()
  t.match(await list(), { status: 200, cacheStatus: /^Gatehouse; hit/ }, "the auditor's list is cached in Redis")

  const stopped = timeline.mark('round 3: redis SIGSTOP')
  redis.freeze()
  const noticed = await markWhen(
    timeline,
    'round 3: frozen Redis noticed (gatehouse_proxy_redis_up 0)',
    async () => (await proxy.metric('gatehouse_proxy_redis_up')) === 0,
    10_000,
  )
  // Its invalidation cannot reach Redis now, while Redis keeps the entry cached before it.
  const write = await requestEdge(`${proxy.url}/api/v1/projects`, proxy.agent, {
    as: auditor,
    method: 'POST',
    body: JSON.stringify({ name: 'written while Redis was frozen' }),
  })
  t.equal(write.status, 201, 'a write is acknowledged while Redis is frozen')
  await sleep(1500)
  const thawed = timeline.mark('round 3: redis SIGCONT')
  redis.thaw()
  await markWhen(
    timeline,
    'round 3: proxy back on Redis (gatehouse_proxy_redis_up 1)',
    async () => (await proxy.metric('gatehouse_proxy_redis_up')) === 1,
    10_000,
  )

  const before = shotsBetween(load.shots, stopped, noticed)
  t.comment(`round 3 (SIGSTOP), until noticed: ${JSON.stringify(tally(before))}; slowest ${slowestMs(before)} ms`)
  const during = shotsBetween(load.shots, noticed, thawed)
  t.comment(`round 3 (SIGSTOP), once noticed: ${JSON.stringify(tally(during))}; slowest ${slowestMs(during)} ms`)
  t.ok(during.length >= 8, `round 3: the clients kept being answered (${during.length} answers)`)
  t.same(during.filter(shot => shot.status !== 200 && shot.status !== 201).map(describe), [], 'every request served')
  t.ok(slowestMs(during) < 1000, `once noticed, nobody waits on the frozen Redis: slowest ${slowestMs(during)} ms`)
  t.same(
    during
      .filter(
        shot => shot.method === 'GET' && cacheOutcome(shot) !== 'fwd=bypass; fwd-status=200; detail=store-unavailable',
      )
      .map(describe),
    [],
    'reads bypass the cache, and Cache-Status says why',
  )
  const after = await list()
  t.ok(
    after.names.includes('written while Redis was frozen'),
    `the write shows in the next read (${after.cacheStatus}), not hidden by the entry cached before it`,
  )
}

const describe = (shot: Shot): string =>
  `${shot.startedAt}-${shot.endedAt} ms ${shot.method} ${shot.path}: ${shot.status || shot.error} ${shot.problemType ?? ''} ${cacheOutcome(shot)}`

// Both modes' processes start together: starting them is most of the waiting.
const prepared = await Promise.all([prepareDrill(t, true), prepareDrill(t, false)])
for (const [index, failOpen] of [true, false].entries()) {
  t.test(
    failOpen
      ? 'fail-open (default): local counting and no cache while Redis is away'
      : 'fail-closed (RATE_LIMIT_FAIL_OPEN=false): 503 while Redis is away',
    async t => {
      const drill = await prepared[index]!.begin(t)
      const { timeline, proxy } = drill
      await outage(t, drill, 'SIGKILL', 1)
      await outage(t, drill, 'SHUTDOWN NOSAVE', 2)
      if (failOpen) await frozen(t, drill)
      const outages = failOpen ? 3 : 2
      const shots = await drill.load.stop()
      timeline.mark('load stopped')
      t.comment(`timeline:\n${timeline.describe()}`)
      t.comment(`all answers: ${JSON.stringify(tally(shots))}`)

      t.same(shots.filter(shot => shot.status === 0).map(describe), [], 'every request answered')
      t.ok(
        slowestMs(shots) < ANSWER_BOUND_MS,
        `none waited long: slowest of ${shots.length} ${describe(slowestShot(shots)!)}`,
      )
      const serverErrors = shots.filter(
        shot =>
          shot.status >= 500 &&
          !(!failOpen && shot.status === 503 && shot.problemType === 'urn:gatehouse:problem:rate-limit-unavailable'),
      )
      t.same(serverErrors.map(describe), [], failOpen ? 'no 5xx at all' : 'no 5xx but the configured 503')

      const messages = proxy.process.lines('reachable').map(line => String(line.msg))
      const count = (msg: string): number => messages.filter(message => message === msg).length
      t.equal(
        count('redis unreachable: serving with local fallbacks until it returns'),
        outages,
        'each outage logged once, not per request',
      )
      t.equal(count('rate limit store unreachable'), outages, 'and once by the rate limiter')
      t.equal(
        count('redis reachable: shared rate limits and cache in use'),
        outages + 1,
        'each return logged (and the first connection)',
      )
      const warnings = [...proxy.process.lines('"level":"warn"'), ...proxy.process.lines('"level":"error"')].map(line =>
        String(line.msg),
      )
      t.equal(
        warnings.length,
        2 * outages,
        `nothing else at warn or above, however many requests met the outage: ${JSON.stringify([...new Set(warnings)])}`,
      )
      t.same(
        shots.filter(shot => shot.securityHeaders !== true).map(describe),
        [],
        "every answer carried the edge's security headers",
      )
      t.notMatch(proxy.process.stderr(), /MaxListenersExceeded|Error/, 'no warnings or errors on stderr')
      t.ok((await proxy.metric('gatehouse_proxy_redis_errors_total')) > 0, 'failed Redis commands counted')
    },
  )
}
