// The real proxy, over real TLS, in front of a scripted upstream instead of the API: for tests of what
// the edge itself does with responses (caching, stale-if-error, collapsing), where the test must choose
// each response's headers and timing and count what reached the upstream.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Clock } from '../../common/clock.ts'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { uniqueSlug } from './backends.ts'
import {
  answerInternalLookup,
  requestEdge,
  startTestProxy,
  type EdgeRequestOptions,
  type EdgeResponse,
  type Login,
} from './edge-stack.ts'

export type Responder = (request: IncomingMessage, response: ServerResponse, body: string) => void | Promise<void>

export interface SeenRequest {
  method: string
  url: string
  tenant: string
  headers: IncomingMessage['headers']
}

export interface ScriptedStack {
  proxy: FastifyInstance
  proxyUrl: string
  /** The test CA's certificate file, for clients outside this process (curl). */
  caCertPath: string
  /** Every request that reached the upstream, in order. */
  seen: SeenRequest[]
  /** Replace how the upstream answers from now on. */
  respond(responder: Responder): void
  /** Stop the upstream listening (connections then fail: 502). */
  stopUpstream(): Promise<void>
  logins: Login[]
  request(path: string, options?: EdgeRequestOptions): Promise<EdgeResponse>
  metric(name: string, labels?: Record<string, string>): Promise<number>
}

/** By default: 200 JSON naming the tenant and URL, shareable for a minute. */
export const shareable =
  (cacheControl = 's-maxage=60'): Responder =>
  (request, response) => {
    const tenant = String(request.headers['x-gatehouse-tenant'])
    const body = JSON.stringify({ tenant, url: request.url, at: process.hrtime.bigint().toString() })
    response.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': cacheControl,
      etag: `"${tenant}-${request.url?.length}"`,
      vary: 'X-Gatehouse-Tenant',
    })
    response.end(body)
  }

/**
 * `logins` reuses another stack's logins (to put two proxies in front of one store); otherwise two new tenants.
 * `clock`: the one the edge's response cache ages entries on.
 */
export async function startScriptedStack(
  t: Test,
  proxyEnv: Record<string, string> = {},
  options: { logins?: Login[]; clock?: Clock } = {},
): Promise<ScriptedStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-cache-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

  const seen: SeenRequest[] = []
  let responder: Responder = shareable()
  const upstream: Server = createServer((request, response) => {
    if (answerInternalLookup(request, response)) return
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.push({
        method: request.method!,
        url: request.url!,
        tenant: String(request.headers['x-gatehouse-tenant']),
        headers: request.headers,
      })
      void responder(request, response, Buffer.concat(chunks).toString())
    })
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  let upstreamOpen = true
  const stopUpstream = async (): Promise<void> => {
    if (!upstreamOpen) return
    upstreamOpen = false
    upstream.closeAllConnections()
    await new Promise(resolve => upstream.close(resolve))
  }
  t.teardown(stopUpstream)

  const logins: Login[] =
    options.logins ??
    [0, 1].map(index => {
      const slug = uniqueSlug()
      return { tenant: { id: slug, slug }, login: `user${index}@${slug}`, password: `pw-${index}-${slug}` }
    })
  const htpasswdFile = join(dataDir, 'htpasswd')
  const lines = await Promise.all(logins.map(async login => `${login.login}:${await hashPassword(login.password, 4)}`))
  writeFileSync(htpasswdFile, lines.join('\n') + '\n')

  const { proxy, proxyUrl, agents } = await startTestProxy(t, {
    dataDir,
    upstreamUrls: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
    htpasswdFile,
    env: { RATE_LIMIT_FREE: '100000', ...proxyEnv },
    clock: options.clock,
  })

  return {
    proxy,
    proxyUrl,
    caCertPath: join(dataDir, 'tls', 'ca.crt'),
    seen,
    logins,
    respond: next => {
      responder = next
    },
    stopUpstream,
    request: (path, options = {}) =>
      requestEdge(`${proxyUrl}${path}`, options.http2 === false ? agents.h1 : agents.h2, options),
    async metric(name, labels = {}) {
      const metric = proxy.edgeMetrics.registry.getSingleMetric(name)
      if (metric === undefined) return 0
      const { values } = await metric.get()
      return values
        .filter(value => Object.entries(labels).every(([label, expected]) => String(value.labels[label]) === expected))
        .reduce((sum, value) => sum + value.value, 0)
    },
  }
}
