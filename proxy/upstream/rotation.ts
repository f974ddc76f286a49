// The API instances in rotation as one undici dispatcher. A change of rotation builds a new BalancedPool
// over the new set, and the previous one closes once it has answered what it holds.
// Why not BalancedPool.removeUpstream: it closes the instance's pool but keeps choosing it until the pool's
// last request is answered, so every request routed there meanwhile fails with ClientClosedError — a 502
// for a POST that the other instance would have served (seen when an API drains on SIGTERM under load).
// @see https://undici.nodejs.org/#/docs/api/BalancedPool
import { BalancedPool, Dispatcher, type Pool } from 'undici'

export class Rotation extends Dispatcher {
  #current: BalancedPool
  readonly #retiring = new Set<BalancedPool>()
  readonly #options: Pool.Options

  constructor(origins: string[], options: Pool.Options) {
    super()
    this.#options = options
    this.#current = new BalancedPool(origins, options)
  }

  /** From now on requests go to these instances only. */
  use(origins: string[]): void {
    const previous = this.#current
    this.#current = new BalancedPool(origins, this.#options)
    this.#retiring.add(previous)
    previous
      .close()
      .catch(() => {})
      .finally(() => this.#retiring.delete(previous))
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // The forwarder names the first upstream as the origin; which instance serves is the pool's choice.
    const { origin: _named, ...rest } = options
    return this.#current.dispatch(rest as Dispatcher.DispatchOptions, handler)
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const closed = Promise.all([this.#current, ...this.#retiring].map(pool => pool.close())).then(() => {})
    if (callback === undefined) return closed
    void closed.then(callback)
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null)
    const done = typeof errOrCallback === 'function' ? errOrCallback : callback
    const destroyed = Promise.all([this.#current, ...this.#retiring].map(pool => pool.destroy(err))).then(() => {})
    if (done === undefined) return destroyed
    void destroyed.then(done)
  }
}
