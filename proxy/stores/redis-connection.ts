// The one Redis connection the proxy's shared stores (rate limit, failed logins, response cache) use
// when REDIS_URL is set. Commands fail fast while Redis is away (no offline queue, one retry), so a
// request never waits on it; ioredis keeps reconnecting in the background. An outage is logged once
// when it starts and once when it ends, and shows in the redis_up gauge and error counter.
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

export interface RedisHealthObserver {
  up(isUp: boolean): void
  error(): void
}

export function connectRedis (url: string, log: FastifyBaseLogger, observer: RedisHealthObserver): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  })
  let isUp: boolean | undefined
  const set = (next: boolean, detail?: string): void => {
    if (isUp === next) return
    if (next) log.info('redis reachable: shared rate limits and cache in use')
    else log.warn({ detail }, 'redis unreachable: serving with local fallbacks until it returns')
    isUp = next
    observer.up(next)
  }
  redis.on('ready', () => set(true))
  redis.on('error', (error: Error) => {
    observer.error()
    set(false, error.message)
  })
  redis.on('end', () => set(false, 'connection ended'))
  redis.on('close', () => { if (isUp === true) set(false, 'connection closed') })
  return redis
}
