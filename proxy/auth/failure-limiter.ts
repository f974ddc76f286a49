// Brute-force protection: failed logins are counted per client address in a fixed window; past the
// limit, that address gets 429 before its credentials are even checked. Shared through Redis when
// configured (several proxies see one count); counted locally while Redis is away.
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'

export interface FailureLimiterOptions { limit: number, windowMs: number, redis?: Redis }

export interface FailureState { blocked: boolean, retryAfterSeconds: number }

export function createFailureLimiter (options: FailureLimiterOptions) {
  const local = new LRUCache<string, { count: number, resetAt: number }>({ max: 100_000, ttl: options.windowMs })
  const key = (address: string): string => `gatehouse:auth-failures:${address}`

  const localCount = (address: string, add: number): { count: number, resetAt: number } => {
    const now = Date.now()
    const current = local.get(address)
    const entry = current === undefined || current.resetAt <= now ? { count: 0, resetAt: now + options.windowMs } : current
    entry.count += add
    local.set(address, entry, { ttl: Math.max(entry.resetAt - now, 1) })
    return entry
  }

  const toState = (count: number, resetInMs: number): FailureState => ({
    blocked: count >= options.limit,
    retryAfterSeconds: Math.max(1, Math.ceil(resetInMs / 1000)),
  })

  return {
    async check (address: string): Promise<FailureState> {
      if (options.redis !== undefined) {
        try {
          const replies = await options.redis.multi().get(key(address)).pttl(key(address)).exec()
          const count = Number(replies?.[0]?.[1] ?? 0)
          const ttl = Number(replies?.[1]?.[1] ?? 0)
          return toState(count, ttl > 0 ? ttl : options.windowMs)
        } catch { /* fall through to the local count */ }
      }
      // Read only: an address without failures leaves no entry behind. Counting every checked address (every
      // request) cost an LRU write per request and let busy legitimate traffic evict a prober's failures.
      const now = Date.now()
      const entry = local.get(address)
      if (entry === undefined || entry.resetAt <= now) return toState(0, options.windowMs)
      return toState(entry.count, entry.resetAt - now)
    },

    async recordFailure (address: string): Promise<void> {
      if (options.redis !== undefined) {
        try {
          await options.redis.multi().incr(key(address)).pexpire(key(address), options.windowMs, 'NX').exec()
          return
        } catch { /* counted locally instead */ }
      }
      localCount(address, 1)
    },
  }
}

export type FailureLimiter = ReturnType<typeof createFailureLimiter>
