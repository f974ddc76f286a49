// On-demand TLS's gate (Caddy's `ask`): whether a name nobody configured may get a certificate. An injected
// `ask` answers (the API knows tenants' domains); answers are cached briefly; asks and orders are rate-limited,
// so a flood of random SNI names costs at most a few asks and no orders.
import { LRUCache } from 'lru-cache'

/** Whether `hostname` belongs to a tenant: true lets the edge order a certificate for it. Must not throw for "no". */
export type HostnameAsk = (hostname: string) => Promise<boolean>

/** The default until an `ask` is plugged in: no name nobody configured gets a certificate. */
export const refuseEveryHostname: HostnameAsk = async () => false

export interface OnDemandLimits {
  /** How long a yes, and a no, is believed. A no is kept shorter: a domain just added should not wait long. */
  allowTtlMs: number
  denyTtlMs: number
  /** Answers remembered at most (least recently used go first). */
  maxAnswers: number
  /** Asks per second on average, and at once: past them a name is refused without asking. */
  asksPerSecond: number
  askBurst: number
  /** Orders per minute on average, and at once. */
  ordersPerMinute: number
  orderBurst: number
}

export const DEFAULT_ON_DEMAND_LIMITS: OnDemandLimits = {
  allowTtlMs: 60_000,
  denyTtlMs: 10_000,
  maxAnswers: 10_000,
  asksPerSecond: 10,
  askBurst: 20,
  ordersPerMinute: 10,
  orderBurst: 5,
}

/** A token bucket on a passed clock. */
export class TokenBucket {
  private tokens: number
  private last: number

  private readonly capacity: number
  private readonly perMs: number
  private readonly now: () => number
  constructor(capacity: number, perMs: number, now: () => number) {
    this.capacity = capacity
    this.perMs = perMs
    this.now = now
    this.tokens = capacity
    this.last = now()
  }

  take(): boolean {
    const at = this.now()
    this.tokens = Math.min(this.capacity, this.tokens + (at - this.last) * this.perMs)
    this.last = at
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

export type Refusal = 'not-allowed' | 'ask-failed' | 'ask-rate' | 'order-rate'

export class OnDemandGate {
  private readonly answers: LRUCache<string, boolean>
  private readonly asks: TokenBucket
  private readonly orders: TokenBucket
  private readonly pending = new Map<string, Promise<true | Refusal>>()

  private readonly ask: HostnameAsk
  constructor(ask: HostnameAsk, limits: Partial<OnDemandLimits> = {}, now: () => number = Date.now) {
    this.ask = ask
    const l = { ...DEFAULT_ON_DEMAND_LIMITS, ...limits }
    this.answers = new LRUCache({ max: l.maxAnswers, ttl: l.allowTtlMs, ttlResolution: 0, perf: { now } })
    this.denyTtlMs = l.denyTtlMs
    this.asks = new TokenBucket(l.askBurst, l.asksPerSecond / 1000, now)
    this.orders = new TokenBucket(l.orderBurst, l.ordersPerMinute / 60_000, now)
  }

  private readonly denyTtlMs: number

  /** true when `hostname` may have a certificate; otherwise why not. Concurrent calls for a name share one ask. */
  async allowed(hostname: string): Promise<true | Refusal> {
    const known = this.answers.get(hostname)
    if (known !== undefined) return known ? true : 'not-allowed'
    const inFlight = this.pending.get(hostname)
    if (inFlight !== undefined) return await inFlight
    if (!this.asks.take()) return 'ask-rate'
    const answer = this.ask(hostname)
      .then(
        yes => {
          this.answers.set(hostname, yes, yes ? {} : { ttl: this.denyTtlMs })
          return yes ? (true as const) : ('not-allowed' as const)
        },
        () => 'ask-failed' as const,
      ) // not remembered: the next handshake asks again
      .finally(() => this.pending.delete(hostname))
    this.pending.set(hostname, answer)
    return await answer
  }

  /** Takes one order from the budget; false when it is spent. */
  mayOrder(): boolean {
    return this.orders.take()
  }
}
