// Drill (issue 5): two API processes behind the real edge (UPSTREAM_URLS with both, /ready checked), load
// through it over HTTP/2 and HTTP/1.1, SIGTERM one: zero failed client requests. The draining instance
// answers /ready with 503 at once, so the edge takes it out of rotation; it keeps accepting for
// SHUTDOWN_DRAIN_DELAY_MS (requests already on their way are served, with Connection: close) and finishes
// what it holds, then exits 0. The other instance takes the rest, and no POST reaches an API twice. Creates
// whose bodies are still arriving at the signal are held whole at the edge, never at an API: once complete
// they are forwarded to an instance in rotation and stored once. On PGlite (each process its own embedded
// database) and Postgres.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { forEachDrillDatabase } from '../helpers/drill-database.ts'
import { basic, startTestProxy } from '../helpers/edge-stack.ts'
import {
  namedWith,
  outcomeSummary,
  reconcileWrites,
  rowNames,
  startMarkedWritesLoad,
  WRITE_PREFIX,
} from '../helpers/marked-writes-load.ts'
import { exitWithin, requestIdsLogged, startApiProcess, type ApiProcess } from '../helpers/service-processes.ts'

const EXIT_BOUND_MS = 45_000

forEachDrillDatabase(t, async (t, database) => {
  t.test('two APIs behind the edge, SIGTERM one under load: no client request fails', async t => {
    const began = Date.now()
    const phases: string[] = []
    const phase = (name: string): void => {
      phases.push(`${name} at ${Date.now() - began} ms`)
    }
    const drain = { SHUTDOWN_GRACE_MS: '30000', SHUTDOWN_DRAIN_DELAY_MS: '2500' }
    const settings = [database.apiSettings(), database.apiSettings()]
    const apis = await Promise.all(settings.map(s => startApiProcess(t, { ...s, env: { ...s.env, ...drain } })))
    const tenant = database.tenants.writers
    phase('both APIs ready')

    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-sigterm-edge-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const login = { tenant: { id: tenant, slug: tenant }, login: `drill@${tenant}`, password: 'drill-password' }
    const htpasswdFile = join(dataDir, 'htpasswd')
    writeFileSync(htpasswdFile, `${login.login}:${await hashPassword(login.password, 4)}\n`)
    const proxyLogs: Array<Record<string, unknown>> = []
    const { proxyUrl, tls } = await startTestProxy(t, {
      dataDir,
      htpasswdFile,
      upstreamUrls: apis.map(api => api.url).join(','),
      env: { UPSTREAM_HEALTH_INTERVAL_MS: '200', RATE_LIMIT_FREE: '1000000', TENANT_PLANS: '' },
      logger: {
        level: 'info',
        stream: {
          write: (line: string) => {
            proxyLogs.push(JSON.parse(line) as Record<string, unknown>)
          },
        },
      },
    })

    // Creates whose bodies wait at the client: in flight at the edge when an API is told to stop.
    let release!: () => void
    const gate = new Promise<void>(resolve => {
      release = resolve
    })
    const slowMarkers = Array.from({ length: 8 }, (_, i) => `slow-edge-${i}-${Math.random().toString(36).slice(2, 8)}`)
    const slowAgent = new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, allowH2: false, connections: 8 })
    t.teardown(() => slowAgent.close())
    const slow = slowMarkers.map(async marker => {
      const body = JSON.stringify({ name: marker })
      const response = await request(`${proxyUrl}/api/v1/projects`, {
        dispatcher: slowAgent,
        method: 'POST',
        headers: {
          authorization: basic(login),
          'x-request-id': marker,
          'content-type': 'application/json',
          'content-length': String(body.length),
        },
        body: Readable.from(
          (async function* () {
            yield body.slice(0, 10)
            await gate
            yield body.slice(10)
          })(),
        ),
      })
      return { status: response.statusCode, body: (await response.body.json()) as { name?: string } }
    })

    const load = startMarkedWritesLoad(
      { tenantSlug: tenant, edge: { url: proxyUrl, ca: tls.cert, login } },
      { writers: 8, readers: 8, pauseMs: 0, deadlineMs: 30_000, through: 'edge' },
    )
    await load.settled(60)
    phase('60 answered')
    const holding = (api: ApiProcess): number =>
      slowMarkers.filter(marker => api.current().countLines('"incoming request"', `"${marker}"`) > 0).length
    const [victim, survivor] = [apis[0]!, apis[1]!]
    t.equal(holding(victim) + holding(survivor), 0, 'no API has seen a half-sent create: the edge holds them')

    phase('half-sent creates held at the edge')
    victim.current().child.kill('SIGTERM')
    await victim
      .current()
      .waitForLine(line => line.msg === 'shutting down: finishing in-flight requests', 'the shutdown')
    release()
    const exit = await exitWithin(victim, EXIT_BOUND_MS)
    phase('the victim exited')
    const servedBySurvivorBefore = requestIdsLogged(survivor, 'incoming request').length
    await load.settled(load.outcomes.length + 60) // and the survivor carries on alone
    await load.stop()
    const slowResults = await Promise.all(slow)
    phase('load stopped')

    t.strictSame(exit, { code: 0, signal: null }, `the stopped instance exits 0: ${victim.current().stderr()}`)
    const failed = load.outcomes.filter(o => o.status < 200 || o.status > 299)
    t.same(
      failed,
      [],
      `no client request failed: ${outcomeSummary(load.outcomes)}; the edge said: ${JSON.stringify(proxyLogs.filter(line => line.level !== 30 && failed.some(o => o.marker === line.reqId)))}`,
    )
    for (const [i, result] of slowResults.entries()) {
      t.match(result, { status: 201, body: { name: slowMarkers[i] } }, `half-sent create ${i} answered 201 in full`)
    }
    t.ok(
      proxyLogs.some(
        line => line.msg === 'API instance out of rotation: its /ready fails' && line.upstream === victim.url,
      ),
      'the edge took the draining instance out of rotation',
    )
    t.ok(
      requestIdsLogged(survivor, 'incoming request').length > servedBySurvivorBefore,
      'the other instance took the rest',
    )

    survivor.current().child.kill('SIGTERM')
    t.match(await exitWithin(survivor, EXIT_BOUND_MS), { code: 0 })
    phase('the survivor exited')
    t.comment(phases.join(', '))
    // Both have exited: their logs are complete.
    const seen = [...requestIdsLogged(apis[0]!, 'incoming request'), ...requestIdsLogged(apis[1]!, 'incoming request')]
    const writes = [...load.outcomes.filter(o => o.kind === 'write').map(o => o.marker), ...slowMarkers]
    t.same(
      writes.filter(marker => seen.filter(id => id === marker).length !== 1),
      [],
      'every create reached exactly one API, once: no POST was resent',
    )
    // Every acknowledged write is stored, once (and every write was acknowledged: none failed).
    const stored = await database.projects()
    reconcileWrites(
      t,
      namedWith(stored, WRITE_PREFIX),
      load.outcomes.filter(o => o.kind === 'write'),
      'absent',
    )
    t.same(
      rowNames(namedWith(stored, 'slow-edge-')).sort(),
      slowMarkers.slice().sort(),
      'and the half-sent creates, each once',
    )
  })
})
