// The one Redis connection the proxy's shared stores (rate limit, failed logins, response cache) use
// when REDIS_URL is set. Commands fail fast while Redis is away (no offline queue, one retry), so a
// request never waits on it; ioredis keeps reconnecting in the background. An outage is logged once
// when it starts and once when it ends, and shows in the redis_up gauge and error counter.
// A Redis that stops answering but keeps its connections open (frozen, overloaded, or behind a network
// path that drops packets) raises no error of its own: each command would wait out commandTimeout, on
// every request, for as long as it lasts. A watchdog PING catches that and drops the connection, so
// commands fail at once (ioredis refuses them until a new connection is ready) and the outage is reported.
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

export interface RedisHealthObserver {
  up(isUp: boolean): void
  error(): void
}

const COMMAND_TIMEOUT_MS = 500

/** How often the connection is checked, and how many unanswered PINGs in a row mean Redis is gone. */
export const WATCHDOG_INTERVAL_MS = 1000
export const WATCHDOG_MISSES = 2

export function connectRedis(url: string, log: FastifyBaseLogger, observer: RedisHealthObserver): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: attempt => Math.min(attempt * 200, 2000),
    lazyConnect: false,
    // How long disconnect() lets the socket close politely before destroying it. ioredis arms that timer even
    // for a socket already closed (Redis refused it), and it held a closing edge alive for its default 2 s.
    disconnectTimeout: 250,
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
  redis.on('close', () => {
    if (isUp === true) set(false, 'connection closed')
  })

  // A PING whose timeout fired late was timed out by this process being busy (its answer may be waiting
  // unread), not by Redis: it proves nothing either way. Two misses in a row, not one, before acting.
  let missed = 0
  const watchdog = setInterval(() => {
    if (redis.status !== 'ready') {
      missed = 0
      return
    }
    const sent = Date.now()
    redis.ping().then(
      () => {
        missed = 0
      },
      () => {
        if (Date.now() - sent > COMMAND_TIMEOUT_MS + 250) return
        if (++missed < WATCHDOG_MISSES || redis.status !== 'ready') return
        missed = 0
        observer.error()
        set(false, `no answer to ${WATCHDOG_MISSES} PINGs in a row`)
        redis.disconnect(true) // reconnects; commands are refused until Redis answers the new connection
      },
    )
  }, WATCHDOG_INTERVAL_MS)
  watchdog.unref()
  redis.on('end', () => clearInterval(watchdog))
  return redis
}
