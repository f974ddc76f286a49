// Where cached responses live: an abstract-cache compliant client (the protocol @fastify/caching takes
// as its `cache`), in memory by default — bounded in entries and bytes — or in Redis, so several
// proxies share one cache. It also keeps each tenant's cache generation: a write bumps it, which makes
// every entry stored under the old one unreachable at once (no scan, no race with in-flight stores).
// Store failures never fail a request: they are reported and read as a miss.
// @see https://github.com/jsumners/abstract-cache#protocol
import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from '../../common/clock.ts'

export interface CachedResponse {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
  storedAt: number
  freshUntil: number
  /** Until when it may stand in for a failing upstream (stale-if-error); ≥ freshUntil. */
  staleUntil: number
  /** The request's values of the headers the response varies on. */
  vary: Record<string, string>
  /** An uncoded entry that is coded for clients that ask (proxy/cache/encoded-variants.ts). */
  encodable?: boolean
}

export interface CacheKey {
  id: string
  segment: string
}
type Result = { item: CachedResponse; stored: number; ttl: number } | null
type Callback<T> = (error: unknown, result: T) => void

export interface ResponseStore {
  /** abstract-cache: this client is promise-based (callbacks are honoured too, as @fastify/caching uses them). */
  readonly await: true
  readonly kind: 'memory' | 'redis'
  get(key: CacheKey | string, callback?: Callback<Result>): Promise<Result>
  set(key: CacheKey | string, value: CachedResponse, ttlMs: number, callback?: Callback<void>): Promise<void>
  has(key: CacheKey | string, callback?: Callback<boolean>): Promise<boolean>
  delete(key: CacheKey | string, callback?: Callback<void>): Promise<void>
  /** The tenant's current generation; undefined when the store cannot say (then nothing may be reused). */
  generation(tenant: string): Promise<string | undefined>
  /** Makes everything cached for the tenant unreachable. */
  invalidate(tenant: string): Promise<void>
  /** Entries held in this process (0 for Redis: its size is Redis's to report). */
  readonly size: number
}

export interface StoreOptions {
  maxEntries: number
  maxBytes: number
  onError(error: Error): void
  /** The clock entries' lifetimes are measured on (the system's unless a test passes one). */
  clock?: Clock
}

/**
 * Keys are hashed: URLs can be long and hold anything, store keys should not. One-shot crypto.hash gives the
 * digest a Hash object gives (Redis keys stay the same across versions) at a fraction of the cost: it runs on
 * every lookup and was ~2.5 % of a cache hit's CPU (npm run bench, BENCH_PROFILE=1). The last id's digest is
 * kept: a request's lookups and stores (an entry and its coded variants) all name one id, in other segments.
 */
let last: { id: string; digest: string } | undefined
export function flatKey(key: CacheKey | string): string {
  if (typeof key === 'string') return key
  if (key.id !== last?.id) last = { id: key.id, digest: hash('sha256', key.id, 'base64url') }
  return `${key.segment}:${last.digest}`
}

const HEADER_OVERHEAD_BYTES = 512

/** Wraps promise methods so that an abstract-cache callback, when given, receives the outcome too. */
function withCallbacks<T extends object>(methods: T): T {
  const wrapped: Record<string, unknown> = {}
  for (const [name, method] of Object.entries(methods)) {
    if (typeof method !== 'function') continue
    wrapped[name] = (...args: unknown[]) => {
      const last = args.at(-1)
      if (typeof last !== 'function') return method(...args)
      const promise = method(...args.slice(0, -1)) as Promise<unknown>
      promise.then(
        result => (last as Callback<unknown>)(null, result),
        error => (last as Callback<unknown>)(error, undefined),
      )
      return promise
    }
  }
  return wrapped as T
}

export function memoryResponseStore(options: StoreOptions): ResponseStore {
  const clock = options.clock ?? systemClock
  const entries = new LRUCache<string, CachedResponse>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    sizeCalculation: entry => entry.body.length + HEADER_OVERHEAD_BYTES,
    // Entries expire on the store's clock, read at each check (not a value kept for a millisecond).
    perf: clock,
    ttlResolution: 0,
  })
  // Not in the LRU: an evicted generation would bring back entries stored before the last write.
  const generations = new Map<string, number>()
  const methods = withCallbacks({
    async get(key: CacheKey | string): Promise<Result> {
      const item = entries.get(flatKey(key))
      if (item === undefined) return null
      return { item, stored: item.storedAt, ttl: Math.max(0, item.staleUntil - clock.now()) }
    },
    async set(key: CacheKey | string, value: CachedResponse, ttlMs: number): Promise<void> {
      entries.set(flatKey(key), value, { ttl: Math.max(1, ttlMs) })
    },
    async has(key: CacheKey | string): Promise<boolean> {
      return entries.has(flatKey(key))
    },
    async delete(key: CacheKey | string): Promise<void> {
      entries.delete(flatKey(key))
    },
    async generation(tenant: string): Promise<string | undefined> {
      return String(generations.get(tenant) ?? 0)
    },
    async invalidate(tenant: string): Promise<void> {
      generations.set(tenant, (generations.get(tenant) ?? 0) + 1)
    },
  })
  // defineProperty, not Object.assign: assign would copy the getter's value once instead of the getter.
  return Object.defineProperties(methods, {
    await: { value: true },
    kind: { value: 'memory' },
    size: { get: () => entries.size },
  }) as ResponseStore
}

interface StoredJson extends Omit<CachedResponse, 'body'> {
  body: string
}

export function redisResponseStore(
  redis: Redis,
  options: Pick<StoreOptions, 'onError' | 'clock'> & { prefix: string },
): ResponseStore {
  const clock = options.clock ?? systemClock
  const key = (name: CacheKey | string): string => options.prefix + flatKey(name)
  const generationKey = (tenant: string): string => `${options.prefix}generation:${tenant}`
  // Tenants whose write could not bump their generation (Redis away or not answering): if Redis kept its
  // data, entries cached before the write would be served again once it returns. Nothing of theirs is
  // read from Redis until the bump has been made.
  const unbumped = new Set<string>()
  const failSoft = async <T>(work: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      options.onError(error as Error)
      return fallback
    }
  }
  const methods = withCallbacks({
    get: (name: CacheKey | string): Promise<Result> =>
      failSoft(async () => {
        const text = await redis.get(key(name))
        if (text === null) return null
        const parsed = JSON.parse(text) as StoredJson
        // Redis drops the key at staleUntil by its own clock; one read just before that is past it here.
        const ttl = parsed.staleUntil - clock.now()
        if (ttl <= 0) return null
        return { item: { ...parsed, body: Buffer.from(parsed.body, 'base64') }, stored: parsed.storedAt, ttl }
      }, null),
    set: (name: CacheKey | string, value: CachedResponse, ttlMs: number): Promise<void> =>
      failSoft(async () => {
        const stored: StoredJson = { ...value, body: value.body.toString('base64') }
        await redis.set(key(name), JSON.stringify(stored), 'PX', Math.max(1, Math.ceil(ttlMs)))
      }, undefined),
    has: (name: CacheKey | string): Promise<boolean> =>
      failSoft(async () => (await redis.exists(key(name))) === 1, false),
    delete: (name: CacheKey | string): Promise<void> =>
      failSoft(async () => {
        await redis.del(key(name))
      }, undefined),
    generation: (tenant: string): Promise<string | undefined> =>
      failSoft(async () => {
        if (unbumped.has(tenant)) {
          const bumped = String(await redis.incr(generationKey(tenant)))
          unbumped.delete(tenant)
          return bumped
        }
        return (await redis.get(generationKey(tenant))) ?? '0'
      }, undefined),
    invalidate: (tenant: string): Promise<void> =>
      failSoft(async () => {
        unbumped.add(tenant)
        await redis.incr(generationKey(tenant))
        unbumped.delete(tenant)
      }, undefined),
  })
  return Object.assign(methods, { await: true as const, kind: 'redis' as const, size: 0 })
}
