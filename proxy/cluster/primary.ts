// PROXY_WORKERS > 1: this process serves no request itself. It prepares what must exist once before any
// worker starts (the settings were validated by main.ts; the local CA and certificate are made here, so
// workers never race to create them), forks the workers (each builds the edge app and listens on the same
// public ports, shared as port-sharing.ts says), keeps their certificate current, serves the
// one internal /metrics with the sum of all workers, replaces a worker that dies, and on SIGTERM/SIGINT
// has every worker drain, exiting 0 once all of them did.
//
// What stays per worker, by design (README, under the proxy settings): /health and /ready (each answers for
// itself; every worker probes the API), the htpasswd file (each polls it), the upstream connection pool,
// and without REDIS_URL the rate-limit and failed-login counts and the response cache.
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import closeWithGrace from 'close-with-grace'
import { loggerOptions } from '../../common/logger.ts'
import type { ProxyConfig } from '../config.ts'
import { announceReady, startOwnAcme, type EdgeHooks } from '../edge-process.ts'
import { relayAcme } from './acme-relay.ts'
import { buildMetricsServer } from '../servers.ts'
import { openCertificateSource } from '../tls/certificate-source.ts'
import type { TlsMaterial } from '../tls/local-ca.ts'
import { clusterMetricsSource, createPrimaryMetrics } from './cluster-metrics.ts'
import { isMessage, sendToWorker, type ToPrimary } from './messages.ts'
import { startWorkerPool, WorkerStartError } from './worker-pool.ts'
import { assertPortFree, setSchedulingPolicy } from './port-sharing.ts'

/** The primary waits this much longer than a worker's own grace period before killing what is left. */
const SHUTDOWN_MARGIN_MS = 5000

export async function runPrimary(config: ProxyConfig, hooks: EdgeHooks = {}): Promise<void> {
  const logOptions = {
    ...loggerOptions('proxy', config.logLevel),
    base: { service: 'proxy', pid: process.pid, role: 'primary' },
  }
  const log = pino(logOptions)
  if (config.portSharing === 'kernel') {
    try {
      for (const port of [config.httpsPort, config.httpPort].filter(port => port !== 0)) {
        await assertPortFree(config.host, port)
      }
    } catch (error) {
      log.fatal({ err: error }, 'the proxy could not start')
      process.exit(1)
    }
  }
  setSchedulingPolicy(config.portSharing)
  const certificates = await openCertificateSource(config.tls)
  let tls: TlsMaterial = certificates.initial
  // One set of session ticket keys for every worker, as Node's TLS docs advise for servers that share
  // clients: a client's next connection may reach any worker, and a ticket must resume whichever
  // worker it reaches, also after a certificate reload (keepCertificateCurrent keeps the keys). Made here,
  // kept for the primary's life (as a single process keeps its own), never written to disk.
  const ticketKeys = randomBytes(48).toString('base64')

  if (config.redisUrl === undefined) {
    log.warn(
      { workers: config.workers },
      'no REDIS_URL: each worker counts rate limits and failed logins on its own, so a client ' +
        'whose connections reach several workers gets up to PROXY_WORKERS times the budgets, and each worker has its own response cache',
    )
  }

  // The primary alone orders and renews; its workers serve what it relays.
  const acme = startOwnAcme(config, log.child({ component: 'acme' }), hooks)
  const pool = startWorkerPool({
    count: config.workers,
    log,
    onMessage(worker, message) {
      if (acmeRelay?.handle(worker, message) === true) return
      if (isMessage<ToPrimary, 'gatehouse:tls-request'>(message, 'gatehouse:tls-request')) {
        sendToWorker(worker, { type: 'gatehouse:tls', ...tls, ticketKeys })
      }
    },
    onRestart: () => primaryMetrics.workerRestarts.inc(),
  })
  const acmeRelay = acme === undefined ? undefined : relayAcme(acme, pool.workers)
  const primaryMetrics = createPrimaryMetrics(pool.workers)
  acme?.exportMetrics(primaryMetrics.registry)
  const metrics = buildMetricsServer(clusterMetricsSource(primaryMetrics.registry, pool.workers), {
    timeouts: config.clientTimeouts,
    logger: logOptions,
  })

  // The certificate source checked the new pair (key matches, not expired) before it gets here.
  certificates.watch(
    material => {
      tls = material
      for (const worker of pool.workers()) sendToWorker(worker, { type: 'gatehouse:tls', ...material, ticketKeys })
      log.info('TLS certificate reloaded')
    },
    error => log.error({ err: error }, 'new TLS certificate rejected; still serving the previous one'),
  )

  closeWithGrace(
    {
      delay: config.shutdownGraceMs + SHUTDOWN_MARGIN_MS,
      logger: {
        error: (message: unknown) => {
          if (typeof message === 'string') log.error(message)
          else log.error({ err: message }, 'shutdown failed')
        },
      },
      onSecondSignal: signal => {
        log.error({ signal }, 'second signal: stopping the workers now')
        pool.kill()
      },
      onTimeout: () => {
        log.error('workers still running after the grace period: killed')
        pool.kill()
      },
    },
    async ({ signal, err }) => {
      if (err !== undefined) log.error({ err }, 'shutting down after an unexpected error')
      else log.info({ signal }, 'shutting down: every worker finishes its in-flight requests')
      certificates.close()
      await acme?.close()
      await hooks.close?.()
      const clean = await pool.drain()
      await metrics.close()
      if (!clean) throw new Error('a worker did not stop cleanly')
    },
  )

  try {
    await metrics.listen({ host: config.metrics.host, port: config.metrics.port })
    await pool.started
    acme?.start() // only now: the CA validates against the workers' ports
  } catch (error) {
    log.fatal({ err: error }, 'the proxy could not start')
    await pool.drain()
    process.exit(error instanceof WorkerStartError ? error.exitCode : 1)
  }

  announceReady(log, config, certificates, {
    workers: pool.workers().map(worker => worker.process.pid),
    portSharing: config.portSharing,
  })
}
