// Several API instances behind one edge. undici's BalancedPool spreads requests over them (and already
// weighs down one whose connections fail); an active check of each instance's /ready takes it out of
// rotation while it fails and puts it back when it answers again, so traffic stops going to an instance
// that is dead, restarting or cut off from its database. All instances failing leaves all in rotation:
// the edge then answers 502/504 rather than nothing. A request that finds an instance unreachable brings
// the next check forward, so a dead instance leaves within moments rather than at the next tick.
// @see https://undici.nodejs.org/#/docs/api/BalancedPool
import { request } from 'undici'
import { Rotation } from './rotation.ts'

export interface UpstreamPoolOptions {
  connections: number
  connectTimeoutMs: number
  timeoutMs: number
  healthIntervalMs: number
  /** Told of every change of an instance's state (and of each one's first known state). */
  onState(origin: string, inRotation: boolean): void
}

export interface UpstreamPool {
  dispatcher: Rotation
  origins: string[]
  inRotation(): string[]
  /** Runs one round of checks now (the timer runs them every healthIntervalMs). */
  check(): Promise<void>
  /** An instance was found unreachable: check soon (at once, or MIN_RECHECK_MS after the last round). */
  checkSoon(): void
  close(): Promise<void>
}

/** However many requests are refused meanwhile, rounds of checks start at most this often. */
export const MIN_RECHECK_MS = 100

export function createUpstreamPool(upstreams: URL[], options: UpstreamPoolOptions): UpstreamPool {
  const origins = [...new Set(upstreams.map(url => url.origin))]
  const dispatcher = new Rotation(origins, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: options.connectTimeoutMs },
  })
  const rotation = new Set(origins)
  for (const origin of origins) options.onState(origin, true)

  const probe = async (origin: string): Promise<boolean> => {
    try {
      const response = await request(new URL('/ready', origin), {
        headersTimeout: Math.min(options.timeoutMs, 2000),
        bodyTimeout: Math.min(options.timeoutMs, 2000),
      })
      await response.body.dump()
      return response.statusCode === 200
    } catch {
      return false
    }
  }

  const check = async (): Promise<void> => {
    const results = await Promise.all(origins.map(async origin => [origin, await probe(origin)] as const))
    const ready = results.filter(([, ok]) => ok).map(([origin]) => origin)
    const wanted = new Set(ready.length > 0 ? ready : origins)
    const changed = origins.filter(origin => wanted.has(origin) !== rotation.has(origin))
    if (changed.length === 0) return
    // One new pool over the new set (see rotation.ts for why not BalancedPool's add/removeUpstream).
    dispatcher.use(origins.filter(origin => wanted.has(origin)))
    for (const origin of changed) {
      if (wanted.has(origin)) rotation.add(origin)
      else rotation.delete(origin)
      options.onState(origin, wanted.has(origin))
    }
  }

  let running: Promise<void> | undefined
  let lastRound = 0
  let closed = false
  const round = (): Promise<void> => {
    if (closed) return Promise.resolve()
    if (running !== undefined) return running
    lastRound = Date.now()
    running = check().finally(() => {
      running = undefined
    })
    return running
  }
  const timer = setInterval(round, options.healthIntervalMs)
  timer.unref()

  let soon: NodeJS.Timeout | undefined
  const checkSoon = (): void => {
    if (soon !== undefined) return
    // A round already under way may have probed before the failure: the next one starts after it.
    soon = setTimeout(
      () => {
        void (running ?? Promise.resolve()).then(() => {
          soon = undefined
          return round()
        })
      },
      Math.max(0, lastRound + MIN_RECHECK_MS - Date.now()),
    )
    soon.unref()
  }

  return {
    dispatcher,
    origins,
    inRotation: () => [...rotation],
    check,
    checkSoon,
    async close() {
      closed = true
      clearInterval(timer)
      clearTimeout(soon)
      await running
      await dispatcher.close()
    },
  }
}
