// Brute-force protection: a credential check must reserve an attempt per client address and per login before
// bcrypt runs, so checks in flight count and a concurrent burst cannot outrun the limit. Shared through Redis
// when configured (several proxies see one count); counted locally while Redis is away.
import { hash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'

export interface FailureLimiterOptions {
  /** Attempts per client address per window (AUTH_FAILURE_LIMIT). */
  addressLimit: number
  /** Attempts per login, from any address, per window (AUTH_LOGIN_FAILURE_LIMIT). */
  loginLimit: number
  windowMs: number
  redis?: Redis
  /** Redis key prefix; tests use their own. */
  keyPrefix?: string
  /** Counters kept while Redis is away; the least recently used go first. */
  maxLocalKeys?: number
  now?: () => number
}

export type Throttle = 'address' | 'login'
export interface Refusal {
  throttle: Throttle
  retryAfterSeconds: number
}
/** A granted reservation: release it when the credentials were right; left alone, it is the recorded failure. */
export interface Reservation {
  release(): Promise<void>
}

// Charges the counters in order, each up to its limit, atomically: the first that would go past its limit
// is put back and named, and the charges before it stay (see reserve). New counters start the window.
const RESERVE = `
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  if count > tonumber(ARGV[i + 1]) then
    redis.call('DECR', key)
    return {i, redis.call('PTTL', key)}
  end
end
return {0, 0}`
// Only counters still there are lowered: a window that ended during the check must not leave a -1 behind.
const RELEASE = `
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 1 then redis.call('DECR', key) elseif count == 1 then redis.call('DEL', key) end
end`

export function createFailureLimiter(options: FailureLimiterOptions) {
  const now = options.now ?? Date.now
  const prefix = options.keyPrefix ?? 'gatehouse:auth-failures'
  // Request addresses come from the socket, so they are short; logins are whatever a client sends: hashed,
  // so a key's length is fixed. Unknown logins are counted too, or a 429 would tell which logins exist.
  // Failures are the only entries left behind (a release deletes a count at 0): memory grows with failed
  // checks, at most the address limit per address and window.
  const addressKey = (address: string): string => `${prefix}:addr:${address}`
  const loginKey = (login: string): string => `${prefix}:login:${hash('sha256', login, 'base64url')}`
  const keys = (address: string, login: string): string[] => [addressKey(address), loginKey(login)]
  const limits = [options.addressLimit, options.loginLimit] as const
  const throttles = ['address', 'login'] as const
  // ttlResolution 0: the window is read on the clock passed in every time, not on a value cached for 1 ms.
  // Bounded by size (one per counter), not by `max`: lru-cache allocates `max` slots up front, and arrays of 100,000
  // are dictionaries to V8, 26 ms at every start of the edge (lru-cache 11.5, Node 24).
  const local = new LRUCache<string, number>({
    maxSize: options.maxLocalKeys ?? 100_000,
    sizeCalculation: () => 1,
    ttl: options.windowMs,
    ttlResolution: 0,
    perf: { now },
  })
  const retryAfter = (ms: number): number => Math.max(1, Math.ceil((ms > 0 ? ms : options.windowMs) / 1000))

  const localReserve = (counters: string[]): Refusal | undefined => {
    for (const [index, key] of counters.entries()) {
      const count = local.get(key) ?? 0
      if (count >= limits[index]!) {
        return { throttle: throttles[index]!, retryAfterSeconds: retryAfter(local.getRemainingTTL(key)) }
      }
      // noUpdateTTL: the window runs from the first attempt, later ones do not stretch it.
      local.set(key, count + 1, { noUpdateTTL: true })
    }
    return undefined
  }
  const localRelease = (counters: string[]): void => {
    for (const key of counters) {
      const count = local.get(key) ?? 0
      if (count > 1) local.set(key, count - 1, { noUpdateTTL: true })
      else local.delete(key)
    }
  }

  return {
    /**
     * Reserves one attempt for a credential check (bcrypt) from `address` at `login`, or says which throttle
     * refuses it. A refusal by the login's throttle still spends the address's attempt: otherwise one address
     * could keep guessing while the login is locked and read the answers of the cache-hit path (see edge-auth).
     */
    async reserve(address: string, login: string): Promise<Reservation | Refusal> {
      const counters = keys(address, login)
      if (options.redis !== undefined) {
        const redis = options.redis
        try {
          const [refused, ttl] = (await redis.eval(RESERVE, 2, ...counters, options.windowMs, ...limits)) as number[]
          if (refused! > 0) return { throttle: throttles[refused! - 1]!, retryAfterSeconds: retryAfter(ttl!) }
          return {
            release: async () => {
              await redis.eval(RELEASE, 2, ...counters).catch(() => {})
            },
          }
        } catch {
          /* counted locally instead */
        }
      }
      return localReserve(counters) ?? { release: async () => localRelease(counters) }
    },

    /**
     * For credentials the verification cache knows to be right (no bcrypt, nothing reserved): is the address
     * at its limit? A read — one Redis GET, or none while Redis is away — never a write.
     */
    async addressRefusal(address: string): Promise<Refusal | undefined> {
      const key = addressKey(address)
      if (options.redis !== undefined) {
        try {
          if (Number((await options.redis.get(key)) ?? 0) < options.addressLimit) return undefined
          return { throttle: 'address', retryAfterSeconds: retryAfter(await options.redis.pttl(key)) }
        } catch {
          /* fall through to the local count */
        }
      }
      if ((local.get(key) ?? 0) < options.addressLimit) return undefined
      return { throttle: 'address', retryAfterSeconds: retryAfter(local.getRemainingTTL(key)) }
    },
  }
}

export const isRefusal = (outcome: object | undefined): outcome is Refusal =>
  outcome !== undefined && 'throttle' in outcome

export type FailureLimiter = ReturnType<typeof createFailureLimiter>
