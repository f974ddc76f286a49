// Settings and probes for tests about the proxy process itself (started with spawnProxy from
// service-processes.ts): workers, signals, exit codes, draining. A temp DATA_DIR (the local CA is made
// there on first start), an htpasswd with one login, ports chosen up front.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { TEST_IDENTITY_SECRET } from './build-app.ts'
import { Agent, request } from 'undici'
import { freePort, startHttpStub } from './edge-stack.ts'

export interface ProxySetup {
  env: Record<string, string>
  dataDir: string
  ports: { https: number; http: number; metrics: number }
  /** `Basic …` for the one login in the htpasswd file. */
  authorization: string
  tenant: string
  baseUrl: string
  metricsUrl: string
  /** The local CA the proxy made (read after it started). */
  ca(): string
}

/** Settings for a proxy in front of `upstreamUrl`: fresh DATA_DIR and ports, one login (bcrypt cost 4). */
export async function proxySetup(t: Test, upstreamUrl: string, env: Record<string, string> = {}): Promise<ProxySetup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-proxy-process-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const tenant = `drill-${Math.random().toString(36).slice(2, 8)}`
  writeFileSync(join(dataDir, 'htpasswd'), `ops@${tenant}:${await hashPassword('ops-password', 4)}\n`)
  const ports = { https: await freePort(), http: await freePort(), metrics: await freePort() }
  return {
    env: {
      DATA_DIR: dataDir,
      PROXY_HTTPS_PORT: String(ports.https),
      PROXY_HTTP_PORT: String(ports.http),
      PROXY_METRICS_PORT: String(ports.metrics),
      UPSTREAM_URLS: upstreamUrl,
      IDENTITY_SECRET: TEST_IDENTITY_SECRET,
      LOG_LEVEL: 'info',
      // Every test connects from 127.0.0.1: keep per-address and per-user budgets out of the way.
      RATE_LIMIT_FREE: '1000000',
      RATE_LIMIT_ANONYMOUS: '1000000',
      AUTH_FAILURE_LIMIT: '1000000',
      ...env,
    },
    dataDir,
    ports,
    authorization: `Basic ${Buffer.from(`ops@${tenant}:ops-password`).toString('base64')}`,
    tenant,
    baseUrl: `https://127.0.0.1:${ports.https}`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}/metrics`,
    ca: () => readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8'),
  }
}

/** Whether a process with this pid still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The value of one series in Prometheus text (0 when absent). */
export function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find(candidate => candidate.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** A stand-in API answering every request at once with a small uncacheable JSON body. */
export const stubApi = (t: Test): Promise<string> =>
  startHttpStub(t, (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    response.end(JSON.stringify({ url: request.url }))
  })

/** `count` requests at once over fresh HTTP/1.1 connections (so they spread over the workers); their request ids. */
export async function burst(t: Test, setup: ProxySetup, label: string, count: number): Promise<string[]> {
  const agent = new Agent({ connect: { ca: setup.ca(), servername: 'localhost' }, allowH2: false })
  t.teardown(() => agent.close())
  const ids = Array.from({ length: count }, (_, index) => `${label}-${index}`)
  const statuses = await Promise.all(
    ids.map(async id => {
      const response = await request(`${setup.baseUrl}/api/v1/projects?id=${id}`, {
        dispatcher: agent,
        headers: { authorization: setup.authorization, 'x-request-id': id },
      })
      await response.body.dump()
      return response.statusCode
    }),
  )
  t.same([...new Set(statuses)], [200], `${label}: all ${count} answered 200`)
  return ids
}

/** The pids of the processes whose request log lines carry these request ids. */
export const servedBy = (logs: Array<Record<string, unknown>>, ids: string[]): Set<number> =>
  new Set(
    logs
      .filter(line => line.msg === 'request completed' && ids.includes(line.reqId as string))
      .map(line => line.pid as number),
  )
