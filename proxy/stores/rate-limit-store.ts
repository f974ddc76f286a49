// A @fastify/rate-limit store that counts in Redis, so several proxies share one budget, and while Redis
// is unreachable keeps counting in this process (fail-open to local limits) — or, configured fail-closed,
// refuses. It composes the plugin's own Redis and local stores rather than re-implementing them.
import { createRequire } from 'node:module'
import type { Redis } from 'ioredis'
import { Errors } from '../../common/problem.ts'

const require = createRequire(import.meta.url)
type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void
interface Store {
  incr(key: string, callback: Callback, timeWindow: number, max: number): void
  child(routeOptions: unknown): Store
}
type StoreConstructor = new (...args: unknown[]) => Store
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreConstructor
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreConstructor

export interface FallbackOptions {
  redis: Redis
  failOpen: boolean
  nameSpace: string
  /** Called on every count that Redis could not take. */
  onRedisError(error: Error): void
}

export function redisStoreWithFallback(options: FallbackOptions) {
  return class RedisWithLocalFallbackStore implements Store {
    private readonly shared: Store
    private readonly local: Store

    constructor(params: { continueExceeding: boolean; exponentialBackoff: boolean }, shared?: Store, local?: Store) {
      this.shared =
        shared ?? new RedisStore(params.continueExceeding, params.exponentialBackoff, options.redis, options.nameSpace)
      this.local = local ?? new LocalStore(params.continueExceeding, params.exponentialBackoff, 10_000)
    }

    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      this.shared.incr(
        key,
        (error, result) => {
          if (error === null || error === undefined) return callback(null, result)
          options.onRedisError(error)
          // Fail-closed: a 503 problem, not an obscure 500.
          if (!options.failOpen) return callback(new Errors.RateLimitStoreDown())
          this.local.incr(key, callback, timeWindow, max)
        },
        timeWindow,
        max,
      )
    }

    child(routeOptions: unknown): Store {
      return new RedisWithLocalFallbackStore(
        routeOptions as { continueExceeding: boolean; exponentialBackoff: boolean },
        this.shared.child(routeOptions),
        this.local.child(routeOptions),
      )
    }
  }
}
