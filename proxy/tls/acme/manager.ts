// Keeps a certificate for each managed name: loaded from storage or ordered (under the storage lock, so one
// proxy orders for all), put in the book, renewed at two thirds of its life, retried with backoff and jitter
// on failure — never dropping the certificate in use. On-demand names join when the gate allows them.
import type { FastifyBaseLogger } from 'fastify'
import type { TlsMaterial } from '../local-ca.ts'
import type { AcmeMetrics } from './acme-metrics.ts'
import { validity, type CertificateBook } from './certificate-book.ts'
import type { Issuer } from './issuer.ts'
import type { OnDemandGate, Refusal } from './on-demand.ts'
import { DEFAULT_RETRY, renewalDue, retryDelayMs, type RetryPolicy } from './renewal.ts'
import type { AcmeStorage } from './storage.ts'
import { fromRecord, toRecord } from './stored-certificate.ts'

/** Longest wait between looks at a name: a renewal another proxy made is picked up from storage by then. */
export const MAX_CHECK_INTERVAL_MS = 12 * 3_600_000

export interface AcmeManagerOptions {
  issuer: Issuer
  storage: AcmeStorage
  /** Where a name's certificate and key are kept in the storage (per CA). */
  storageKey(name: string): string
  book: CertificateBook
  log: FastifyBaseLogger
  metrics?: AcmeMetrics
  retry?: RetryPolicy
  onDemand?: OnDemandGate
  now?: () => number
}

interface Managed {
  onDemand: boolean
  attempt: number
  timer: NodeJS.Timeout | undefined
  running: Promise<boolean> | undefined
}

/** A name's record in storage, if any, and its certificate when the record is usable. */
interface Stored {
  record?: string
  material?: TlsMaterial
}

export class AcmeManager {
  private readonly managed = new Map<string, Managed>()
  private readonly onDemandInFlight = new Map<string, Promise<boolean>>()
  private closed = false
  private readonly now: () => number

  private readonly options: AcmeManagerOptions
  constructor(options: AcmeManagerOptions) {
    this.options = options
    this.now = options.now ?? Date.now
  }

  /** Starts keeping `names` in the background; until a name's certificate is there, the default one serves it. */
  manage(names: string[]): void {
    for (const name of names) {
      if (this.managed.has(name)) continue
      this.managed.set(name, { onDemand: false, attempt: 0, timer: undefined, running: undefined })
      void this.refresh(name)
    }
  }

  /** Loads or orders `name` now (single flight); `force` orders even when the stored certificate is not due. */
  refresh(name: string, force = false): Promise<boolean> {
    const state = this.managed.get(name)
    if (state === undefined) return Promise.resolve(false)
    if (state.running !== undefined) return state.running
    clearTimeout(state.timer)
    state.running = this.run(name, state, force).finally(() => {
      state.running = undefined
    })
    return state.running
  }

  private async run(name: string, state: Managed, force: boolean): Promise<boolean> {
    const { log, book } = this.options
    try {
      if (state.onDemand && this.options.onDemand !== undefined) {
        // A tenant's domain is renewed, or an order that failed retried, only while it is still theirs (the first
        // run reads the answer the handshake just got, from the gate's memory).
        if ((await this.options.onDemand.allowed(name)) === 'not-allowed') {
          log.info({ name }, 'on-demand name no longer allowed: not renewed, no longer served')
          this.managed.delete(name)
          book.delete(name)
          return false
        }
      }
      const material = await this.loadOrObtain(name, force, state)
      const entry = book.set(name, material)
      state.attempt = 0
      this.schedule(name, state, renewalDue(entry.notBefore, entry.notAfter).getTime() - this.now())
      return true
    } catch (error) {
      const delayMs = retryDelayMs(state.attempt++, this.options.retry ?? DEFAULT_RETRY)
      const serving = book.get(name) !== undefined ? 'the previous certificate' : 'the default certificate'
      log.error({ err: error, name, retryInMs: delayMs, serving }, 'ACME certificate not obtained; retrying later')
      this.schedule(name, state, delayMs)
      return false
    }
  }

  private schedule(name: string, state: Managed, delayMs: number): void {
    if (this.closed || !this.managed.has(name)) return
    state.timer = setTimeout(
      () => {
        void this.refresh(name)
      },
      Math.max(0, Math.min(delayMs, MAX_CHECK_INTERVAL_MS)),
    )
    state.timer.unref()
  }

  private async stored(name: string): Promise<Stored> {
    const record = await this.options.storage.get(this.options.storageKey(name))
    return record === undefined ? {} : { material: fromRecord(record), record }
  }

  /** An unusable record is reported once: not again when it is the one `seen` already. */
  private reportUnusable(name: string, stored: Stored, seen?: string): void {
    if (stored.record !== undefined && stored.material === undefined && stored.record !== seen) {
      this.options.log.warn({ name }, 'stored ACME certificate unusable: ordering anew')
    }
  }

  private due(material: TlsMaterial): boolean {
    const { notBefore, notAfter } = validity(material.cert)
    return this.now() >= renewalDue(notBefore, notAfter).getTime()
  }

  private async loadOrObtain(name: string, force: boolean, state: Managed): Promise<TlsMaterial> {
    const { storage, storageKey, log, book } = this.options
    const current = book.get(name)
    const found = await this.stored(name)
    this.reportUnusable(name, found)
    const first = found.material
    if (first !== undefined && !this.due(first) && !force) {
      if (current?.material.cert !== first.cert) {
        log.info({ name, notAfter: validity(first.cert).notAfter }, 'ACME certificate loaded from storage')
      }
      return first
    }
    if (current === undefined) {
      log.info({ name }, 'no ACME certificate yet: serving the default (local CA) certificate until it arrives')
    }
    const release = await storage.lock(`certificate-${name}`)
    try {
      // Another proxy may have ordered it while this one waited for the lock.
      const foundAgain = await this.stored(name)
      this.reportUnusable(name, foundAgain, found.record)
      const again = foundAgain.material
      if (again !== undefined && !this.due(again) && (!force || again.cert !== first?.cert)) return again
      const started = this.now()
      let material: TlsMaterial
      try {
        material = await this.options.issuer.obtain([name])
      } catch (error) {
        this.options.metrics?.orders.inc({ result: 'failure' })
        throw error
      }
      this.options.metrics?.orders.inc({ result: 'success' })
      const { notAfter } = validity(material.cert)
      log.info({ name, notAfter, tookMs: this.now() - started, onDemand: state.onDemand }, 'ACME certificate obtained')
      // An order spends the CA's rate limit: a certificate that cannot be stored is still served from memory. Other
      // proxies (and this one after a restart) order their own; the next renewal stores again.
      await storage.put(storageKey(name), toRecord(material)).catch((error: unknown) => {
        log.error({ err: error, name }, 'ACME certificate obtained but not stored: serving it from memory')
      })
      return material
    } finally {
      // A lock that cannot be given back (its store is down) expires by itself; it must not cost the certificate.
      await release().catch((error: unknown) => {
        log.warn({ err: error, name }, 'ACME storage lock not released: it expires by itself')
      })
    }
  }

  /**
   * A handshake named `name`, which nobody configured: asks the gate, then loads or orders it (rate-limited).
   * Resolves true once the book has a certificate for it.
   */
  serveOnDemand(name: string): Promise<boolean> {
    if (this.options.book.get(name) !== undefined) return Promise.resolve(true)
    const inFlight = this.onDemandInFlight.get(name)
    if (inFlight !== undefined) return inFlight
    const attempt = this.onDemand(name).finally(() => this.onDemandInFlight.delete(name))
    this.onDemandInFlight.set(name, attempt)
    return attempt
  }

  private async onDemand(name: string): Promise<boolean> {
    const gate = this.options.onDemand
    const refuse = (reason: Refusal): false => {
      this.options.metrics?.onDemandRefusals.inc({ reason })
      this.options.log.debug({ name, reason }, 'on-demand certificate refused')
      return false
    }
    if (gate === undefined) return refuse('not-allowed')
    const allowed = await gate.allowed(name)
    if (allowed !== true) return refuse(allowed)
    const state = this.managed.get(name)
    if (state?.running !== undefined) return await state.running
    if (state !== undefined) return false // managed, failed, waiting for its retry: not another order per handshake
    // One stored by another proxy costs no order; only a real order spends the budget.
    const stored = await this.stored(name).catch((): Stored => ({}))
    if (stored.material === undefined && !gate.mayOrder()) return refuse('order-rate')
    this.managed.set(name, { onDemand: true, attempt: 0, timer: undefined, running: undefined })
    return await this.refresh(name)
  }

  useMetrics(metrics: AcmeMetrics): void {
    this.options.metrics = metrics
  }

  close(): void {
    this.closed = true
    for (const state of this.managed.values()) clearTimeout(state.timer)
  }
}
