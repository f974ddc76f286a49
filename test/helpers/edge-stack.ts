// The whole stack on loopback for edge tests: the real API (on a PGlite or Postgres backend) listening
// on a port, and the real proxy in front of it over real TLS (a local CA made for the test), with
// logins in an htpasswd file. Requests go through undici over HTTP/2 or HTTP/1.1, trusting that CA.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { Agent, request as undiciRequest } from 'undici'
import { buildApp } from '../../server/app.js'
import { buildProxyApp } from '../../proxy/app.js'
import { loadProxyConfig, type ProxyConfig } from '../../proxy/config.js'
import { hashPassword } from '../../proxy/auth/htpasswd-file.js'
import { ensureLocalCertificate } from '../../proxy/tls/local-ca.js'
import type { Backend, TestTenant } from './backends.js'
import { TEST_IDENTITY_SECRET, testConfig } from './build-app.js'

export interface Login { tenant: TestTenant, login: string, password: string }

export interface EdgeResponse { status: number, headers: Record<string, string | string[] | undefined>, body: string, json<T = any>(): T }

export interface EdgeRequestOptions {
  method?: string
  /** Basic credentials; omitted → no Authorization header. */
  as?: Login
  headers?: Record<string, string>
  body?: string | Buffer
  /** true (default) negotiates HTTP/2 by ALPN; false forces HTTP/1.1. */
  http2?: boolean
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
  /** Adds a login for a fresh tenant (bcrypt cost 4 keeps tests fast). */
  addLogin(user?: string, plan?: 'free' | 'pro' | 'enterprise'): Promise<Login>
  request(path: string, options?: EdgeRequestOptions): Promise<EdgeResponse>
}

export const basic = (login: Login): string => `Basic ${Buffer.from(`${login.login}:${login.password}`).toString('base64')}`

export async function startEdgeStack (t: Test, backend: Backend, proxyEnv: Record<string, string> = {}): Promise<EdgeStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-edge-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

  const api = await buildApp(testConfig(backend), { database: backend.database })
  await api.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => api.close())
  const apiUrl = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`

  const htpasswdFile = join(dataDir, 'htpasswd')
  writeFileSync(htpasswdFile, '')
  const lines: string[] = []
  const plans: string[] = []

  const tls = await ensureLocalCertificate(join(dataDir, 'tls'), ['localhost', '127.0.0.1'])
  const proxyConfig = loadProxyConfig({
    DATA_DIR: dataDir,
    PROXY_HTTPS_PORT: '0',
    UPSTREAM_URLS: apiUrl,
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    HTPASSWD_FILE: htpasswdFile,
    LOG_LEVEL: 'silent',
    // addLogin polls until the proxy has re-read the file; those 401s must not lock the test out.
    AUTH_FAILURE_LIMIT: '1000',
    ...proxyEnv,
  })
  const proxy = await buildProxyApp(proxyConfig, { tls })
  await proxy.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => proxy.close())
  const proxyUrl = `https://127.0.0.1:${(proxy.server.address() as { port: number }).port}`

  const agents = {
    h2: new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, allowH2: true }),
    h1: new Agent({ connect: { ca: tls.cert, servername: 'localhost' }, allowH2: false }),
  }
  t.teardown(async () => { await Promise.all([agents.h2.close(), agents.h1.close()]) })

  return {
    api,
    apiUrl,
    proxy,
    proxyUrl,
    proxyConfig,
    caCert: tls.cert,
    dataDir,
    htpasswdFile,
    async addLogin (user = 'alice', plan = 'free') {
      const tenant = await backend.createTenant(plan)
      const password = `pw-${Math.random().toString(36).slice(2)}`
      lines.push(`${user}@${tenant.slug}:${await hashPassword(password, 4)}`)
      plans.push(`${tenant.slug}=${plan}`)
      proxyConfig.rateLimit.tenantPlans.set(tenant.slug, plan)
      writeFileSync(htpasswdFile, lines.join('\n') + '\n')
      // The proxy polls the file (1 s): wait until it authenticates this login.
      const login = { tenant, login: `${user}@${tenant.slug}`, password }
      for (let attempt = 0; attempt < 50; attempt++) {
        const response = await undiciRequest(`${proxyUrl}/api/v1/projects?limit=1`, {
          dispatcher: agents.h1, headers: { authorization: basic(login) },
        })
        await response.body.dump()
        if (response.statusCode !== 401) return login
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`the proxy never accepted ${login.login}`)
    },
    async request (path, options = {}) {
      const response = await undiciRequest(`${proxyUrl}${path}`, {
        method: (options.method ?? 'GET') as 'GET',
        dispatcher: options.http2 === false ? agents.h1 : agents.h2,
        headers: {
          ...(options.as !== undefined ? { authorization: basic(options.as) } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: options.body } : {}),
      })
      const body = await response.body.text()
      return { status: response.statusCode, headers: response.headers, body, json: () => JSON.parse(body) }
    },
  }
}
