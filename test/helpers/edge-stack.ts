// The whole stack on loopback for edge tests: the real API (on a PGlite or Postgres backend) listening
// on a port, and the real proxy in front of it over real TLS (a local CA made for the test), with
// logins in an htpasswd file. Requests go through undici over HTTP/2 or HTTP/1.1, trusting that CA.
import { randomInt } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { Agent, request as undiciRequest, type Dispatcher } from 'undici'
import type { Clock } from '../../common/clock.ts'
import { buildApp } from '../../server/app.ts'
import { buildProxyApp } from '../../proxy/app.ts'
import { assertPortFree } from '../../proxy/cluster/port-sharing.ts'
import { loadProxyConfig, type ProxyConfig } from '../../proxy/config.ts'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { ensureLocalCertificate, type TlsMaterial } from '../../proxy/tls/local-ca.ts'
import type { Backend, TestTenant } from './backends.ts'
import { TEST_IDENTITY_SECRET, testConfig } from './build-app.ts'

// How often test proxies re-read their htpasswd file: a login a test adds works within this, where the default
// (1 s) would make each addLogin wait half a second on average.
const TEST_HTPASSWD_POLL_MS = 50

export interface Login {
  tenant: TestTenant
  login: string
  password: string
}

export interface EdgeResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  /** The body as it came over the wire (undici does not decode content codings). */
  bytes: Buffer
  json<T = any>(): T
}

export interface EdgeRequestOptions {
  method?: string
  /** Basic credentials; omitted → no Authorization header. */
  as?: Login
  headers?: Record<string, string>
  body?: string | Buffer
  /** true (default) negotiates HTTP/2 by ALPN; false forces HTTP/1.1. */
  http2?: boolean
  /** Connect from this loopback address (e.g. 127.0.0.2): a different client address for per-address limits. */
  localAddress?: string
}

export interface EdgeStack {
  api: FastifyInstance
  apiUrl: string
  proxy: FastifyInstance
  proxyUrl: string
  proxyConfig: ProxyConfig
  caCert: string
  dataDir: string
  htpasswdFile: string
  /** Adds a login for a fresh tenant with this plan stored (the edge learns it from the API), or for `tenant`. */
  addLogin(user?: string, plan?: 'free' | 'pro' | 'enterprise', tenant?: TestTenant): Promise<Login>
  /** The proxy's log lines, parsed, when started with `{ captureLogs: true }`. */
  logs: Array<Record<string, unknown>>
  request(path: string, options?: EdgeRequestOptions): Promise<EdgeResponse>
}

export const basic = (login: Login): string =>
  `Basic ${Buffer.from(`${login.login}:${login.password}`).toString('base64')}`

export interface EdgeStackOptions {
  /** Collect the proxy's JSON log lines (level info and up) in `stack.logs`. */
  captureLogs?: boolean
  /** API settings on top of the test defaults (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). */
  apiEnv?: Record<string, string>
}

export async function startEdgeStack(
  t: Test,
  backend: Backend,
  proxyEnv: Record<string, string> = {},
  options: EdgeStackOptions = {},
): Promise<EdgeStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-edge-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

  const api = await buildApp(testConfig(backend, options.apiEnv), { database: backend.database })
  await api.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => api.close())
  const apiUrl = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`

  const htpasswdFile = join(dataDir, 'htpasswd')
  writeFileSync(htpasswdFile, '')
  const lines: string[] = []
  const plans: string[] = []

  const logs: Array<Record<string, unknown>> = []
  const logger =
    options.captureLogs === true
      ? {
          level: 'info',
          stream: {
            write: (line: string) => {
              logs.push(JSON.parse(line) as Record<string, unknown>)
            },
          },
        }
      : undefined
  // Per-address budgets stay out of reach: addLogin's polling 401s must not lock the test out.
  const { proxy, proxyUrl, proxyConfig, tls, agents } = await startTestProxy(t, {
    dataDir,
    upstreamUrls: apiUrl,
    htpasswdFile,
    env: proxyEnv,
    ...(logger !== undefined ? { logger } : {}),
  })
  const fromAddress = new Map<string, Agent>()
  const agentFor = (options: EdgeRequestOptions): Agent => {
    if (options.localAddress === undefined) return options.http2 === false ? agents.h1 : agents.h2
    const key = `${options.localAddress}/${options.http2 !== false}`
    let agent = fromAddress.get(key)
    if (agent === undefined) {
      agent = new Agent({
        connect: { ca: tls.cert, servername: 'localhost' },
        localAddress: options.localAddress,
        allowH2: options.http2 !== false,
      })
      fromAddress.set(key, agent)
    }
    return agent
  }
  t.teardown(async () => {
    await Promise.all([...fromAddress.values()].map(agent => agent.close()))
  })

  return {
    api,
    apiUrl,
    proxy,
    proxyUrl,
    proxyConfig,
    caCert: tls.cert,
    dataDir,
    htpasswdFile,
    logs,
    async addLogin(user = 'alice', plan = 'free', existing?: TestTenant) {
      const tenant = existing ?? (await backend.createTenant(plan))
      const password = `pw-${Math.random().toString(36).slice(2)}`
      lines.push(`${user}@${tenant.slug}:${await hashPassword(password, 4)}`)
      plans.push(`${tenant.slug}=${plan}`)
      writeFileSync(htpasswdFile, lines.join('\n') + '\n')
      // The proxy polls the file (every HTPASSWD_POLL_MS): wait until it authenticates this login. Each probe
      // comes from a fresh loopback address, so its 401s never count against the addresses tests throttle; the
      // successful probe does spend one request of this user's budget.
      const login = { tenant, login: `${user}@${tenant.slug}`, password }
      for (let attempt = 0; attempt < 5000 / TEST_HTPASSWD_POLL_MS; attempt++) {
        const localAddress = `127.${1 + randomInt(250)}.${randomInt(256)}.${1 + randomInt(250)}`
        const probe = new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, localAddress })
        try {
          const response = await undiciRequest(`${proxyUrl}/api/v1/projects?limit=1`, {
            dispatcher: probe,
            headers: { authorization: basic(login) },
          })
          await response.body.dump()
          if (response.statusCode !== 401) return login
        } finally {
          await probe.close()
        }
        await new Promise(resolve => setTimeout(resolve, TEST_HTPASSWD_POLL_MS))
      }
      throw new Error(`the proxy never accepted ${login.login}`)
    },
    request: (path, options = {}) => requestEdge(`${proxyUrl}${path}`, agentFor(options), options),
  }
}

export interface TestProxy {
  proxy: FastifyInstance
  proxyUrl: string
  proxyConfig: ProxyConfig
  tls: TlsMaterial
  /** Clients that trust the test CA: HTTP/2 by ALPN, and HTTP/1.1 only. */
  agents: { h2: Agent; h1: Agent }
}

/**
 * The real proxy on an ephemeral loopback port over real TLS (a local CA made for the test), closed with
 * the test. Per-address budgets (failed logins, requests without credentials) are out of reach unless
 * `env` sets them: every test file connects from 127.0.0.1, and with REDIS_URL they share those counters.
 */
export async function startTestProxy(
  t: Test,
  settings: {
    dataDir: string
    upstreamUrls: string
    htpasswdFile: string
    env?: Record<string, string>
    logger?: object
    /** The clock the response cache ages entries on (the system's by default). */
    clock?: Clock
  },
): Promise<TestProxy> {
  const tls = await ensureLocalCertificate(join(settings.dataDir, 'tls'), ['localhost', '127.0.0.1'])
  const proxyConfig = loadProxyConfig({
    DATA_DIR: settings.dataDir,
    PROXY_HTTPS_PORT: '0',
    UPSTREAM_URLS: settings.upstreamUrls,
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    HTPASSWD_FILE: settings.htpasswdFile,
    HTPASSWD_POLL_MS: String(TEST_HTPASSWD_POLL_MS),
    LOG_LEVEL: 'silent',
    AUTH_FAILURE_LIMIT: '100000',
    AUTH_LOGIN_FAILURE_LIMIT: '100000',
    RATE_LIMIT_ANONYMOUS: '100000',
    ...settings.env,
  })
  const proxy = await buildProxyApp(proxyConfig, {
    tls,
    ...(settings.logger !== undefined ? { logger: settings.logger } : {}),
    clock: settings.clock,
  })
  await proxy.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => proxy.close())
  const agents = {
    h2: new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, allowH2: true }),
    h1: new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, allowH2: false }),
  }
  t.teardown(async () => {
    await Promise.all([agents.h2.close(), agents.h1.close()])
  })
  return {
    proxy,
    proxyUrl: `https://127.0.0.1:${(proxy.server.address() as { port: number }).port}`,
    proxyConfig,
    tls,
    agents,
  }
}

/** One request to the edge as a client makes it: basic credentials, a JSON body, the whole answer read. */
export async function requestEdge(
  url: string,
  dispatcher: Dispatcher,
  options: EdgeRequestOptions = {},
): Promise<EdgeResponse> {
  const response = await undiciRequest(url, {
    method: (options.method ?? 'GET') as 'GET',
    dispatcher,
    headers: {
      ...(options.as !== undefined ? { authorization: basic(options.as) } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
  })
  const bytes = Buffer.from(await response.body.arrayBuffer())
  const body = bytes.toString()
  return { status: response.statusCode, headers: response.headers, body, bytes, json: () => JSON.parse(body) }
}

/** A port that was free a moment ago, for servers a test starts outside this process. */
// Ports a test picks now and listens on later come from below the kernel's ephemeral range. Inside it, the port of
// every bind(0) and the local port of every outgoing connection, in any process, are drawn too: one found free there
// was taken before the test listened (EADDRINUSE in pebble-on-demand.test, CI at a2e3ea7). Below it, only another
// freePort could take it, by drawing the same one of ~20,000 ports.
const EPHEMERAL_START = ((): number => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
  } catch {
    return 32768 // Linux's default
  }
})()
const PICKED_PORTS = { from: 10_000, to: EPHEMERAL_START - 1 }
// A test often picks several ports before listening on any (an edge's two, Pebble's four): drawn at random, two of
// them could be the same one, which no check for a free port can see (EADDRINUSE in pebble-renewal.test, CI at
// 959454e). A port is handed out once per process.
const handedOut = new Set<number>()

/** A port nothing listens on now and that no other bind(0) or outgoing connection will be given (see above). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50 && PICKED_PORTS.to - PICKED_PORTS.from > 1000; attempt++) {
    const port = PICKED_PORTS.from + randomInt(PICKED_PORTS.to - PICKED_PORTS.from + 1)
    if (handedOut.has(port)) continue
    const free = await assertPortFree(host, port).then(
      () => true,
      () => false,
    )
    if (!free) continue
    handedOut.add(port)
    return port
  }
  // A kernel whose ephemeral range leaves too little below it: any port it has free.
  const server = createNetServer()
  await new Promise<void>(resolve => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/**
 * A stand-in for the API knows no tenants: the edge's own lookups (/internal/v1) are answered here as the API answers
 * for unknown ones (no plan: the edge's default; no domain owner), so a test's handler sees only what the edge
 * forwards. True when it answered.
 */
export function answerInternalLookup(request: IncomingMessage, response: ServerResponse): boolean {
  const match = /^\/internal\/v1\/(tenants|domains)\/([^/?]+)$/.exec(request.url ?? '')
  if (request.url?.startsWith('/internal/') !== true) return false
  const name = decodeURIComponent(match?.[2] ?? '')
  const answer =
    match?.[1] === 'tenants'
      ? { slug: name, plan: null }
      : match?.[1] === 'domains'
        ? { hostname: name, tenant: null }
        : undefined
  if (answer === undefined) {
    response.writeHead(404, { 'content-type': 'application/problem+json' }).end('{"status":404}')
  } else {
    response
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify(answer))
  }
  return true
}

/** A plain HTTP server on loopback standing in for the API (to see what reaches it, or to never answer). */
export async function startHttpStub(
  t: Test,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<string> {
  const server = createServer((request, response) => {
    if (!answerInternalLookup(request, response)) handler(request, response)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Polls `probe` every 50 ms until it returns true, failing after `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe()) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not hold within ${timeoutMs} ms`)
}
