// One edge process: the HTTPS app, the HTTP redirect and, standing alone, the internal metrics listener;
// certificate reloads; graceful draining on SIGTERM/SIGINT. proxy/main.ts runs it directly, or it runs as
// each worker of a cluster (proxy/cluster/), where the primary owns the certificate and the metrics port.
import cluster from 'node:cluster'
import type { Http2SecureServer } from 'node:http2'
import closeWithGrace from 'close-with-grace'
import type { FastifyBaseLogger } from 'fastify'
import { loggerOptions } from '../common/logger.ts'
import { buildProxyApp } from './app.ts'
import { TLS_OPTIONS } from './tls/tls-options.ts'
import type { ProxyConfig } from './config.ts'
import { trackConnections } from './connection-drain.ts'
import { buildMetricsServer, buildRedirectServer, capConnections } from './servers.ts'
import { keepCertificateCurrent, openCertificateSource, type CertificateSource } from './tls/certificate-source.ts'
import { trustInstructions } from './tls/local-ca.ts'
import { answerMetricsRequests, certificatesFromPrimary, onDrainRequest, reportReady } from './cluster/worker.ts'
import { pino } from 'pino'
import { acmeFromPrimary } from './cluster/acme-relay.ts'
import { workerListenOptions } from './cluster/port-sharing.ts'
import { startEdgeAcme, type AcmeListeners, type EdgeAcme } from './tls/acme/edge-acme.ts'
import type { HostnameAsk, OnDemandLimits } from './tls/acme/on-demand.ts'
import type { TenantFactsClient } from './tenant-facts/tenant-facts-client.ts'

/** What the proxy's entry may plug in beyond its settings. */
export interface EdgeHooks {
  /** On-demand TLS: whether a name nobody configured belongs to a tenant (default: no name does). */
  ask?: HostnameAsk
  /** How long its answers are believed, and how often it may be asked (defaults: on-demand.ts). */
  onDemandLimits?: Partial<OnDemandLimits>
  /** Gives back what the hooks hold, once ACME has stopped. */
  close?: () => Promise<void>
}

/**
 * On-demand TLS orders a certificate for a name nobody configured only when the API says a tenant owns it (Caddy's
 * `ask`). The tenant-facts client already keeps each answer TENANT_FACTS_TTL_SECONDS: the gate believes it no
 * longer, or a removed domain would still be renewed for the gate's own minute.
 */
export function askingTheApi(config: ProxyConfig, ask: HostnameAsk): EdgeHooks {
  const ttlMs = config.tenantFacts.ttlMs
  return { ask, onDemandLimits: { allowTtlMs: ttlMs, denyTtlMs: ttlMs } }
}

/** The names the default certificate is for: served it until their ACME certificate arrives, never refused. */
export const configuredNames = (config: ProxyConfig): string[] =>
  config.tls.kind === 'local-ca' ? config.tls.hostnames : (config.acme?.names ?? [])

/** ACME in a process of its own (not a cluster worker): it orders and renews, logging as the proxy. */
export function startOwnAcme(config: ProxyConfig, log: FastifyBaseLogger, hooks: EdgeHooks): EdgeAcme | undefined {
  if (config.acme === undefined) return undefined
  const ask = hooks.ask !== undefined ? { ask: hooks.ask } : {}
  const limits = hooks.onDemandLimits !== undefined ? { onDemandLimits: hooks.onDemandLimits } : {}
  return startEdgeAcme(config.acme, {
    log,
    redisUrl: config.redisUrl,
    configured: configuredNames(config),
    ...ask,
    ...limits,
  })
}

export async function runEdgeProcess(config: ProxyConfig, hooks: EdgeHooks = {}): Promise<void> {
  const worker = cluster.worker
  // In a cluster the worker drains when the primary asks or on a signal (proxy/cluster/worker.ts), possibly
  // while it is still starting: remember it until shutdown exists.
  let drainReason: string | undefined
  let requestDrain = (reason: string): void => {
    drainReason ??= reason
  }
  if (worker !== undefined) onDrainRequest(reason => requestDrain(reason))

  const logger =
    worker === undefined
      ? loggerOptions('proxy', config.logLevel)
      : { ...loggerOptions('proxy', config.logLevel), base: { service: 'proxy', pid: process.pid, worker: worker.id } }
  const fromPrimary = worker === undefined ? undefined : await certificatesFromPrimary()
  const certificates = fromPrimary ?? (await openCertificateSource(config.tls))
  const acmeLog = pino(logger).child({ component: 'acme' })
  // One process asks through its app's own tenant facts (one client, one cache, closed with the app); ACME asks
  // only once it has started, after the app listens.
  let facts: TenantFactsClient | undefined
  const ownHooks =
    hooks.ask === undefined ? askingTheApi(config, async name => (await facts?.ask(name)) ?? false) : hooks
  const acme = worker === undefined ? startOwnAcme(config, acmeLog, ownHooks) : undefined
  const fromCluster = worker !== undefined && config.acme !== undefined
  const acmeListeners: AcmeListeners | undefined =
    acme ?? (fromCluster ? acmeFromPrimary(config, configuredNames(config), acmeLog) : undefined)
  const sni = acmeListeners !== undefined ? { sni: acmeListeners.sni } : {}
  const app = await buildProxyApp(config, { tls: certificates.initial, logger, ...sni })
  facts = app.tenantFacts
  acme?.exportMetrics(app.edgeMetrics.registry)
  const server = app.server as unknown as Http2SecureServer
  if (fromPrimary !== undefined) server.setTicketKeys(fromPrimary.ticketKeys)
  // Per process: in a cluster each worker caps its own.
  capConnections(server, config.maxConnections)
  const sideServer = { timeouts: config.clientTimeouts, logger }
  const redirectPort = config.publicHttpsPort ?? config.httpsPort
  const redirect = buildRedirectServer(redirectPort, {
    ...sideServer,
    maxConnections: config.maxConnections,
    ...(acmeListeners !== undefined ? { acmeHttpAnswer: acmeListeners.httpAnswer } : {}),
  })
  const metrics = worker === undefined ? buildMetricsServer(app.edgeMetrics.registry, sideServer) : undefined
  if (worker !== undefined) answerMetricsRequests(app.edgeMetrics.registry)

  keepCertificateCurrent(certificates, server, TLS_OPTIONS, app.log)
  const connections = trackConnections(server)

  let closing = false
  const shutdown = closeWithGrace(
    {
      delay: config.shutdownGraceMs,
      ...(worker !== undefined ? { skip: ['SIGINT', 'SIGTERM'] as const satisfies closeWithGrace.Signals[] } : {}),
      logger: {
        error: (message: unknown) => {
          if (typeof message === 'string') app.log.error(message)
          else app.log.error({ err: message }, 'shutdown failed')
        },
      },
    },
    async ({ signal, err }) => {
      closing = true
      if (err !== undefined) app.log.error({ err }, 'shutting down after an unexpected error')
      else app.log.info({ signal: signal ?? drainReason }, 'shutting down: finishing in-flight requests')
      certificates.close()
      await Promise.all([redirect.close(), metrics?.close(), connections.drain(), acmeListeners?.close()])
      // Only now: once Fastify's close() begins it answers 503 to requests on open connections.
      await app.close()
    },
  )
  requestDrain = reason => {
    if (closing) return
    drainReason = reason
    shutdown.close()
  }
  if (drainReason !== undefined) requestDrain(drainReason)
  if (closing) return // asked to stop before it served: nothing to listen for

  // A worker's public ports: by default sockets of its own that the kernel balances (proxy/cluster/port-sharing.ts).
  const publicPort = (port: number) => ({
    host: config.host,
    port,
    ...(worker !== undefined ? workerListenOptions(config.portSharing, port) : {}),
  })
  await app.listen(publicPort(config.httpsPort))
  if (config.httpPort !== 0) await redirect.listen(publicPort(config.httpPort))
  if (metrics !== undefined) await metrics.listen({ host: config.metrics.host, port: config.metrics.port })
  acme?.start() // only now: the CA's validation must find the ports listening

  if (worker !== undefined) {
    reportReady()
    app.log.info('proxy worker ready')
    return
  }
  announceReady(app.log, config, certificates)
}

/**
 * Once the proxy listens (one process, or a cluster's primary): how to trust a local CA made just now, and
 * where everything is. `extra` adds to the ready line (the cluster's worker pids and how they share the ports).
 */
export function announceReady(
  log: Pick<FastifyBaseLogger, 'info'>,
  config: ProxyConfig,
  certificates: Pick<CertificateSource, 'notice'>,
  extra: Record<string, unknown> = {},
): void {
  if (config.tls.kind === 'local-ca') {
    log.info({ created: certificates.notice === 'created' }, 'local certificate authority in use')
    if (certificates.notice === 'created') {
      process.stderr.write(
        `\n${trustInstructions(`${config.tls.dir}/ca.crt`, config.publicHttpsPort ?? config.httpsPort)}\n\n`,
      )
    }
  }
  log.info(
    {
      https: `https://localhost:${config.httpsPort}`,
      redirect: config.httpPort !== 0 ? `http://localhost:${config.httpPort}` : 'off',
      metrics: `http://${config.metrics.host}:${config.metrics.port}/metrics`,
      upstreams: config.upstreams.map(url => url.origin),
      redis: config.redisUrl !== undefined,
      ...extra,
    },
    'gatehouse proxy ready',
  )
}
