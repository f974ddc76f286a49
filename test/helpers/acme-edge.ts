// The edge's HTTPS app and HTTP redirect in this process, with ACME wired as proxy/edge-process.ts wires it,
// on the ports Pebble validates against: tests see each proxy's manager, log and order counts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildProxyApp } from '../../proxy/app.ts'
import { loadProxyConfig, type ProxyConfig } from '../../proxy/config.ts'
import { configuredNames } from '../../proxy/edge-process.ts'
import { buildRedirectServer } from '../../proxy/servers.ts'
import { startEdgeAcme, type EdgeAcme, type EdgeAcmeOptions } from '../../proxy/tls/acme/edge-acme.ts'
import { ensureLocalCertificate } from '../../proxy/tls/local-ca.ts'
import { TEST_IDENTITY_SECRET } from './build-app.ts'
import { freePort } from './edge-stack.ts'
import type { Pebble } from './pebble.ts'

export interface AcmeEdge {
  config: ProxyConfig
  acme: EdgeAcme
  app: FastifyInstance
  ports: { https: number; http: number }
  dataDir: string
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>
  /** This proxy's ACME orders by result, from its own /metrics registry. */
  orders(result: 'success' | 'failure'): Promise<number>
  close(): Promise<void>
}

/** Ports for an edge, picked before Pebble starts (it validates against them). */
export async function edgePorts(): Promise<{ https: number; http: number }> {
  return { https: await freePort(), http: await freePort() }
}

export interface AcmeEdgeOptions extends Partial<Omit<EdgeAcmeOptions, 'log' | 'configured'>> {
  ports: { https: number; http: number }
  env?: Record<string, string>
}

export async function startAcmeEdge(t: Test, pebble: Pebble, options: AcmeEdgeOptions): Promise<AcmeEdge> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-edge-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  writeFileSync(join(dataDir, 'htpasswd'), '')
  const config = loadProxyConfig({
    DATA_DIR: dataDir,
    PROXY_HTTPS_PORT: String(options.ports.https),
    PROXY_HTTP_PORT: String(options.ports.http),
    PROXY_HOSTNAMES: 'localhost,127.0.0.1,edge.example.com',
    UPSTREAM_URLS: 'http://127.0.0.1:9',
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    ACME_EMAIL: 'ops@example.com',
    ACME_DIRECTORY_URL: pebble.directoryUrl,
    ACME_CA_CERT_FILE: pebble.caCertFile,
    ...options.env,
  })
  const logs: Array<Record<string, unknown>> = []
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        const lines = chunk.toString().split('\n').filter(Boolean)
        for (const line of lines) logs.push(JSON.parse(line) as Record<string, unknown>)
        callback()
      },
    }),
  ) as unknown as FastifyBaseLogger
  const tls = await ensureLocalCertificate(join(dataDir, 'tls'), configuredNames(config))
  const { ports: _ports, env: _env, ...acmeOptions } = options
  const configured = configuredNames(config)
  const acme = startEdgeAcme(config.acme!, { log, configured, redisUrl: config.redisUrl, pollMs: 100, ...acmeOptions })
  const app = await buildProxyApp(config, { tls, sni: acme.sni })
  acme.exportMetrics(app.edgeMetrics.registry)
  const redirect = buildRedirectServer(options.ports.https, {
    timeouts: config.clientTimeouts,
    maxConnections: 100,
    acmeHttpAnswer: acme.httpAnswer,
  })
  await app.listen({ host: '127.0.0.1', port: options.ports.https })
  await redirect.listen({ host: '127.0.0.1', port: options.ports.http })
  acme.start()
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await acme.close()
    await Promise.all([app.close(), redirect.close()])
  }
  t.teardown(close)
  return {
    config,
    acme,
    app,
    ports: options.ports,
    dataDir,
    logs,
    async orders(result) {
      const metric = await app.edgeMetrics.registry.getSingleMetric('gatehouse_proxy_acme_orders_total')?.get()
      return metric?.values.find(value => value.labels.result === result)?.value ?? 0
    },
    close,
  }
}
