// What the edge knows about tenants, kept in memory (lru-cache): answers served from memory, refreshed in the
// background once older than the TTL, the last good answer kept when a refresh fails, one load per key at a time,
// negative answers cached like any other, a key never learnt and failing remembered as failing for a TTL (one attempt
// per key per TTL, not one per request), and loads for keys not in memory capped so a flood of new keys costs little.
// @see https://github.com/isaacs/node-lru-cache
import { LRUCache } from 'lru-cache'

export interface FactsCacheOptions<V extends object> {
  ttlMs: number
  maxEntries: number
  /** Loads in flight at once, all keys together; past it a key not in memory fails at once (FactsBusyError). */
  maxInFlight: number
  load(key: string, signal: AbortSignal): Promise<V>
  /** A load failed (the last good answer, if any, is kept and tried again after the TTL). */
  onError?(key: string, error: unknown): void
  /** For tests: the clock TTLs are measured on (ms). */
  clock?: { now(): number }
}

export class FactsBusyError extends Error {
  constructor() {
    super('too many lookups in flight')
    this.name = 'FactsBusyError'
  }
}

/** What is kept for a key whose load failed before any answer was learnt. */
class Failure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

export function createFactsCache<V extends object>(options: FactsCacheOptions<V>) {
  const loading = new Set<string>()
  const cache = new LRUCache<string, V | Failure>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    // The clock is read on every check: a TTL of seconds needs no coarser resolution to be cheap.
    ttlResolution: 0,
    // A stale answer is served while it refreshes; a failed refresh keeps it (fetchMethod returns it again).
    allowStale: true,
    ...(options.clock !== undefined ? { perf: options.clock } : {}),
    fetchMethod: async (key, stale, { signal }) => {
      loading.add(key)
      try {
        return await options.load(key, signal)
      } catch (error) {
        options.onError?.(key, error)
        // The last good answer, stored again: kept, and the next attempt waits a TTL rather than one per request.
        // Never learnt: the failure itself is kept as long, so callers fail at once instead of each asking again.
        return stale instanceof Failure || stale === undefined ? new Failure(error) : stale
      } finally {
        loading.delete(key)
      }
    },
  })

  /** Starts a background refresh when the answer in memory is past its TTL. */
  const refreshIfStale = (key: string): void => {
    if (!loading.has(key) && cache.getRemainingTTL(key) <= 0) cache.fetch(key).catch(() => {})
  }

  async function load(key: string, allowStale: boolean): Promise<V> {
    const known = cache.peek(key, { allowStale: true }) !== undefined
    if (!known && !loading.has(key) && loading.size >= options.maxInFlight) throw new FactsBusyError()
    const value = await cache.fetch(key, { allowStale })
    if (value instanceof Failure) throw value.error
    return value!
  }

  return {
    /** The answer from memory (a stale one is refreshed in the background), else loaded once for all callers. */
    get: (key: string): Promise<V> => load(key, true),
    /**
     * An answer no older than the TTL: a stale one is refreshed and waited for (if that refresh fails, the last
     * good answer). For questions whose answer lasts far longer than the TTL, such as ordering a certificate.
     */
    fresh: (key: string): Promise<V> => load(key, false),
    /** The answer in memory now, without waiting (undefined: not known yet); a stale one is refreshed. */
    now(key: string): V | undefined {
      const hit = cache.peek(key, { allowStale: true })
      if (hit !== undefined) refreshIfStale(key)
      return hit instanceof Failure ? undefined : hit
    },
    get size(): number {
      return cache.size
    },
    clear(): void {
      cache.clear()
    },
  }
}

export type FactsCache<V extends object> = ReturnType<typeof createFactsCache<V>>
