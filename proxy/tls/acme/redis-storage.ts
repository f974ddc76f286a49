// ACME storage in Redis (REDIS_URL): every proxy sees the same account, certificates and challenges, and a
// lock (SET NX PX with a token, refreshed while held, released only by its holder) lets one of them order a
// name for all, as certmagic's distributed storage does.
// @see https://github.com/caddyserver/certmagic/blob/master/storage.go
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { checkKey, type AcmeStorage, type Release } from './storage.ts'

const LOCK_POLL_MS = 250
/** A holder that stops refreshing (it died) loses the lock after this long. */
export const REDIS_LOCK_TTL_MS = 30_000

// Only the holder's token may extend or delete the lock: a holder that lost it (paused past the TTL)
// must not release the next holder's.
const REFRESH =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) " + 'else return 0 end'
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

export class RedisStorage implements AcmeStorage {
  readonly shared = true
  private readonly refreshers = new Set<NodeJS.Timeout>()

  private readonly redis: Redis
  private readonly prefix: string
  /** `prefix` keeps these keys apart from other data in the same Redis (and tests apart from each other). */
  constructor(redis: Redis, prefix = 'gatehouse:acme:') {
    this.redis = redis
    this.prefix = prefix
  }

  static connect(url: string, onError: (error: Error) => void, prefix?: string): RedisStorage {
    // Its own connection, with the offline queue: ACME work is rare and may wait for Redis, unlike a request.
    const redis = new Redis(url, { maxRetriesPerRequest: 3, connectTimeout: 2000 })
    redis.on('error', onError)
    return new RedisStorage(redis, prefix)
  }

  private key(key: string): string {
    return this.prefix + checkKey(key)
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(key))) ?? undefined
  }

  async put(key: string, value: string): Promise<void> {
    await this.redis.set(this.key(key), value)
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(this.key(key))
  }

  async lock(name: string): Promise<Release> {
    const key = this.key(`locks/${name}`)
    const token = randomBytes(16).toString('hex')
    while ((await this.redis.set(key, token, 'PX', REDIS_LOCK_TTL_MS, 'NX')) !== 'OK') {
      await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS))
    }
    const refresher = setInterval(() => {
      this.redis.eval(REFRESH, 1, key, token, REDIS_LOCK_TTL_MS).catch(() => {})
    }, REDIS_LOCK_TTL_MS / 3)
    refresher.unref()
    this.refreshers.add(refresher)
    return async () => {
      clearInterval(refresher)
      this.refreshers.delete(refresher)
      await this.redis.eval(RELEASE, 1, key, token)
    }
  }

  async close(): Promise<void> {
    for (const refresher of this.refreshers) clearInterval(refresher)
    this.redis.disconnect()
  }
}
