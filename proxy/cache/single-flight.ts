// Concurrent misses for one key share one upstream fetch: the first request fetches, the others wait for how
// that fetch ended (the entry it stored, or its failure) instead of each asking the API.

export class SingleFlight<Outcome> {
  readonly #flights = new Map<string, Promise<Outcome>>()

  /** How the fetch of `key` under way will end, or undefined when none is. */
  pending(key: string): Promise<Outcome> | undefined {
    return this.#flights.get(key)
  }

  /**
   * Registers the fetch of `key` and returns what ends it. Only its first call counts: a later one (the answer's
   * onResponse after the entry was already shared) must not end the next fetch of the same key.
   */
  start(key: string): (outcome: Outcome) => void {
    let settle!: (outcome: Outcome) => void
    const flight = new Promise<Outcome>(resolve => {
      settle = resolve
    })
    this.#flights.set(key, flight)
    let ended = false
    return outcome => {
      if (ended) return
      ended = true
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
      settle(outcome)
    }
  }

  get size(): number {
    return this.#flights.size
  }
}
