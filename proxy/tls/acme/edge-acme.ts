// ACME for one edge process, assembled (storage, issuer, challenge answers, certificate book, manager, on-demand
// gate), and what the listeners need from it: the SNI/ALPN callbacks for HTTPS and the HTTP-01 answers. In a
// cluster the primary runs this and relays to its workers (proxy/cluster/acme-relay.ts).
import type { FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import type { AcmeConfig } from '../../config.ts'
import { createAcmeMetrics } from './acme-metrics.ts'
import { CertificateBook } from './certificate-book.ts'
import { Challenges } from './challenges.ts'
import { AcmeIssuer } from './issuer.ts'
import { AcmeManager } from './manager.ts'
import { OnDemandGate, refuseEveryHostname, type HostnameAsk, type OnDemandLimits } from './on-demand.ts'
import { RedisStorage } from './redis-storage.ts'
import type { RetryPolicy } from './renewal.ts'
import { sniSelection, type SniSelection } from './sni.ts'
import { FileStorage, type AcmeStorage } from './storage.ts'

/** What a process that serves the public ports needs from ACME. */
export interface AcmeListeners {
  sni: SniSelection
  /** The key authorization for an HTTP-01 token, or undefined. */
  httpAnswer(token: string): Promise<string | undefined>
  close(): Promise<void>
}

export interface EdgeAcme extends AcmeListeners {
  book: CertificateBook
  challenges: Challenges
  manager: AcmeManager
  /** Starts obtaining the configured names in the background: once the ports the CA validates against listen. */
  start(): void
  /** Registers the ACME metrics in `registry` (the edge's, made with the app after this; or the primary's). */
  exportMetrics(registry: Registry): void
}

export interface EdgeAcmeOptions {
  log: FastifyBaseLogger
  redisUrl: string | undefined
  /** Names the default certificate covers (PROXY_HOSTNAMES). */
  configured: string[]
  /** On-demand TLS's question; by default every unconfigured name is refused. */
  ask?: HostnameAsk
  onDemandLimits?: Partial<OnDemandLimits>
  retry?: RetryPolicy
  pollMs?: number
  /** Redis key prefix (tests keep theirs apart). */
  redisPrefix?: string
}

export function openAcmeStorage(
  acme: AcmeConfig,
  redisUrl: string | undefined,
  log: FastifyBaseLogger,
  redisPrefix?: string,
): AcmeStorage {
  if (redisUrl === undefined) return new FileStorage(acme.dir)
  return RedisStorage.connect(redisUrl, error => log.warn({ err: error }, 'ACME storage: Redis error'), redisPrefix)
}

export function startEdgeAcme(acme: AcmeConfig, options: EdgeAcmeOptions): EdgeAcme {
  const { log } = options
  const storage = openAcmeStorage(acme, options.redisUrl, log, options.redisPrefix)
  const challenges = new Challenges(storage)
  const book = new CertificateBook()
  const issuer = new AcmeIssuer({
    ...acme,
    storage,
    responders: challenges,
    log,
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
  })
  const manager = new AcmeManager({
    issuer,
    storage,
    storageKey: name => issuer.certificateKey(name),
    book,
    log,
    onDemand: new OnDemandGate(options.ask ?? refuseEveryHostname, options.onDemandLimits),
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
  })
  return {
    start() {
      if (acme.names.length === 0) {
        log.warn('ACME_EMAIL is set, but no name in PROXY_HOSTNAMES can have a public certificate: on-demand only')
      } else {
        const { names, directoryUrl: directory, challenges: offered } = acme
        log.info({ names, directory, challenges: offered }, 'ACME: obtaining certificates in the background')
      }
      manager.manage(acme.names)
    },
    book,
    challenges,
    manager,
    sni: sniSelection({
      book,
      challenges,
      configured: options.configured,
      tlsAlpn: acme.challenges.includes('tls-alpn-01'),
      onDemand: name => manager.serveOnDemand(name),
    }),
    httpAnswer: token => challenges.httpAnswer(token),
    exportMetrics: registry => manager.useMetrics(createAcmeMetrics(registry, book)),
    async close() {
      manager.close()
      await storage.close()
    },
  }
}
