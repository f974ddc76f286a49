// How many requests each tenant user has at the API at once. The upstream pool is shared by every tenant:
// one user's slow requests must not take all of it, so each may hold a fair share (UPSTREAM_USER_MAX_IN_FLIGHT,
// by default a quarter of the pool). Past it a request waits its turn — holding no API connection, its body
// already counted in the edge's body budget — behind at most QUEUE_FACTOR shares of that user's requests;
// past that it is answered 429. Everyone else is served meanwhile.

/** How many shares of one user's requests may wait for a place before more are refused. */
const QUEUE_FACTOR = 4

interface Waiter {
  resolve(granted: boolean): void
}

export class UpstreamShares {
  readonly #inFlight = new Map<string, number>()
  readonly #waiting = new Map<string, Waiter[]>()
  readonly perUser: number
  constructor(perUser: number) {
    this.perUser = perUser
  }

  /** Takes one of the user's places at once if one is free (the usual case: no promise). */
  tryTake(user: string): boolean {
    const held = this.#inFlight.get(user) ?? 0
    if (held >= this.perUser) return false
    this.#inFlight.set(user, held + 1)
    return true
  }

  /** Waits for a place freed by one of the user's requests; false if too many wait already or `signal` fires first. */
  wait(user: string, signal: AbortSignal): Promise<boolean> {
    const queue = this.#waiting.get(user) ?? []
    if (queue.length >= this.perUser * QUEUE_FACTOR || signal.aborted) return Promise.resolve(false)
    this.#waiting.set(user, queue)
    return new Promise<boolean>(resolve => {
      const waiter: Waiter = { resolve }
      queue.push(waiter)
      signal.addEventListener(
        'abort',
        () => {
          const at = queue.indexOf(waiter)
          if (at === -1) return // already granted: its place is given back by its own release
          queue.splice(at, 1)
          if (queue.length === 0 && this.#waiting.get(user) === queue) this.#waiting.delete(user)
          resolve(false)
        },
        { once: true },
      )
    })
  }

  /** Gives a place back: to the user's next waiting request, or free. */
  release(user: string): void {
    const queue = this.#waiting.get(user)
    const next = queue?.shift()
    if (queue !== undefined && queue.length === 0) this.#waiting.delete(user)
    if (next !== undefined) {
      next.resolve(true) // the place passes on: the count stays
      return
    }
    const held = this.#inFlight.get(user) ?? 0
    if (held <= 1) this.#inFlight.delete(user)
    else this.#inFlight.set(user, held - 1)
  }

  heldBy(user: string): number {
    return this.#inFlight.get(user) ?? 0
  }
}
