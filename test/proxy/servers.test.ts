// The side servers: plain HTTP only redirects to HTTPS (308, path and query kept, a hostile Host never
// reflected; /health answered in place), and the metrics server exposes the edge's counters with values
// that moved after real traffic, while the public HTTPS port never serves /metrics. Both hold clients to
// the deadlines they are given and cap their connections (over real sockets: test/hostile/listener-deadlines).
import type { Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { Registry } from 'prom-client'
import { buildMetricsServer, buildRedirectServer, METRICS_MAX_CONNECTIONS } from '../../proxy/servers.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { startEdgeStack } from '../helpers/edge-stack.ts'

const timeouts = { headersMs: 2000, requestMs: 5000, keepAliveMs: 7000 }

t.test('both side servers have the client deadlines they are given, and a connection cap', async t => {
  const deadlines = (server: Server): unknown => ({
    headers: server.headersTimeout,
    request: server.requestTimeout,
    keepAlive: server.keepAliveTimeout,
    idleSocket: server.timeout,
  })
  const redirect = buildRedirectServer(8443, { timeouts, maxConnections: 12 })
  const metrics = buildMetricsServer(new Registry(), { timeouts })
  t.teardown(() => Promise.all([redirect.close(), metrics.close()]))
  for (const [what, app] of [
    ['redirect', redirect],
    ['metrics', metrics],
  ] as const) {
    const expected = { headers: 2000, request: 5000, keepAlive: 7000, idleSocket: 5000 }
    t.same(deadlines(app.server), expected, `${what}: as configured, not Node's defaults`)
  }

  await metrics.listen({ host: '127.0.0.1', port: 0 })
  const port = (metrics.server.address() as AddressInfo).port
  const open = async (): Promise<{ socket: Socket; closed: Promise<void> }> => {
    const socket = connect(port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    socket.on('error', () => {})
    const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
    await new Promise(resolve => socket.once('connect', resolve))
    return { socket, closed }
  }
  const held = await Promise.all(Array.from({ length: METRICS_MAX_CONNECTIONS }, open))
  const extra = await open()
  extra.socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n')
  const giveUp = new Promise(resolve => setTimeout(resolve, 2000, false))
  const closedAtOnce = await Promise.race([extra.closed.then(() => true), giveUp])
  t.ok(closedAtOnce, `metrics: past ${METRICS_MAX_CONNECTIONS} open connections one more is closed at once`)
  held[0]!.socket.destroy()
  await held[0]!.closed
  const response = await request(`http://127.0.0.1:${port}/metrics`)
  await response.body.dump()
  t.equal(response.statusCode, 200, 'and once one is gone, served again')
})

t.test('plain HTTP: 308 to https with path and query, /health in place', async t => {
  const redirect = buildRedirectServer(8443, { timeouts, maxConnections: 100 })
  await redirect.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => redirect.close())
  const base = `http://127.0.0.1:${(redirect.server.address() as { port: number }).port}`

  for (const method of ['GET', 'POST'] as const) {
    const response = await request(`${base}/api/v1/projects?limit=5&q=a%20b`, {
      method,
      headers: { host: 'localhost:8080' },
    })
    await response.body.dump()
    t.equal(response.statusCode, 308, `${method} keeps its method`)
    t.equal(response.headers.location, 'https://localhost:8443/api/v1/projects?limit=5&q=a%20b')
  }
  const health = await request(`${base}/health`)
  t.equal(health.statusCode, 200)
  t.same(await health.body.json(), { status: 'ok' })

  for (const hostile of ['evil.example/phish?', 'a"b', 'localhost@evil.example', 'x\\y']) {
    const response = await request(`${base}/path`, { headers: { host: hostile } })
    await response.body.dump()
    t.equal(response.statusCode, 308)
    t.equal(
      response.headers.location,
      'https://localhost:8443/path',
      `Host ${JSON.stringify(hostile)} is not reflected`,
    )
  }
  const named = await request(`${base}/x`, { headers: { host: 'gatehouse.example.com' } })
  await named.body.dump()
  t.equal(named.headers.location, 'https://gatehouse.example.com:8443/x', 'a plain host name is kept')

  const standard = buildRedirectServer(443, { timeouts, maxConnections: 100 })
  t.teardown(() => standard.close())
  const injected = await standard.inject({ url: '/a', headers: { host: 'example.com' } })
  t.equal(injected.headers.location, 'https://example.com/a', 'no :443 in the location')
})

forEachBackend(t, async (t, backend) => {
  t.test('metrics: edge counters move with traffic, served only by the metrics server', async t => {
    const stack = await startEdgeStack(t, backend, { RATE_LIMIT_FREE: '3' })
    const alice = await stack.addLogin()
    const metrics = buildMetricsServer(stack.proxy.edgeMetrics.registry, { timeouts })
    await metrics.listen({ host: '127.0.0.1', port: 0 })
    t.teardown(() => metrics.close())
    const scrape = async (): Promise<string> => {
      const response = await request(`http://127.0.0.1:${(metrics.server.address() as { port: number }).port}/metrics`)
      t.equal(response.statusCode, 200)
      return response.body.text()
    }
    const value = (text: string, series: string): number => {
      const line = text.split('\n').find(candidate => candidate.startsWith(`${series} `))
      return line === undefined ? 0 : Number(line.slice(series.length + 1))
    }
    const tenant = alice.tenant.slug
    const before = await scrape()

    await stack.request('/api/v1/projects', { as: { ...alice, password: 'wrong' } })
    // Distinct URLs: the response cache would answer a repeat without the API.
    await stack.request('/api/v1/projects?limit=3', { as: alice }) // 2 of 3
    await stack.request('/api/v1/projects?limit=4', { as: alice, http2: false }) // 3 of 3
    await stack.request('/api/v1/projects', { as: alice }) // 429
    const after = await scrape()

    const failures = `gatehouse_proxy_auth_failures_total{tenant="${tenant}"}`
    t.equal(value(after, failures) - value(before, failures), 1, 'the failed login, labelled with its tenant')
    const limited = `gatehouse_proxy_rate_limited_total{tenant="${tenant}"}`
    t.equal(value(after, limited) - value(before, limited), 1)
    const h2 = 'gatehouse_proxy_requests_total{http_version="2.0",tls_version="TLSv1.3"}'
    const h1 = 'gatehouse_proxy_requests_total{http_version="1.1",tls_version="TLSv1.3"}'
    t.equal(value(after, h2) - value(before, h2), 3)
    t.equal(value(after, h1) - value(before, h1), 1)
    const upstream = 'gatehouse_proxy_upstream_duration_seconds_count{status_class="2xx"}'
    t.equal(value(after, upstream) - value(before, upstream), 2, 'two requests reached the API')
    t.match(after, /^process_cpu_user_seconds_total /m, 'process metrics too')

    const unknown = await stack.request('/api/v1/projects', { as: { ...alice, login: 'ghost@no-such-tenant' } })
    t.equal(unknown.status, 401)
    t.notMatch(await scrape(), /no-such-tenant/, 'a made-up tenant never becomes a label')

    for (const path of ['/metrics', '/metrics?x=1']) {
      const response = await stack.request(path, { as: alice })
      t.not(response.status, 200, `the public port does not serve ${path}`)
      t.notMatch(response.body, /gatehouse_proxy_/)
    }
  })
})
