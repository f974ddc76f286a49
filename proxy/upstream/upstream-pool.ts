// Several API instances behind one edge. undici's BalancedPool spreads requests over them (and already
// weighs down one whose connections fail); an active check of each instance's /ready takes it out of
// rotation while it fails and puts it back when it answers again, so traffic stops going to an instance
// that is dead, restarting or cut off from its database. All instances failing leaves all in rotation:
// the edge then answers 502/504 rather than nothing.
// @see https://undici.nodejs.org/#/docs/api/BalancedPool
import { BalancedPool, request } from 'undici'

export interface UpstreamPoolOptions {
  connections: number
  connectTimeoutMs: number
  timeoutMs: number
  healthIntervalMs: number
  /** Told of every change of an instance's state (and of each one's first known state). */
  onState(origin: string, inRotation: boolean): void
}

export interface UpstreamPool {
  dispatcher: BalancedPool
  origins: string[]
  inRotation(): string[]
  /** Runs one round of checks now (the timer runs them every healthIntervalMs). */
  check(): Promise<void>
  close(): Promise<void>
}

export function createUpstreamPool (upstreams: URL[], options: UpstreamPoolOptions): UpstreamPool {
  const origins = [...new Set(upstreams.map((url) => url.origin))]
  const dispatcher = new BalancedPool(origins, {
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
    const results = await Promise.all(origins.map(async (origin) => [origin, await probe(origin)] as const))
    const ready = results.filter(([, ok]) => ok).map(([origin]) => origin)
    const wanted = new Set(ready.length > 0 ? ready : origins)
    for (const origin of origins) {
      if (wanted.has(origin) && !rotation.has(origin)) {
        dispatcher.addUpstream(origin)
        rotation.add(origin)
        options.onState(origin, true)
      } else if (!wanted.has(origin) && rotation.has(origin)) {
        dispatcher.removeUpstream(origin)
        rotation.delete(origin)
        options.onState(origin, false)
      }
    }
  }

  let running: Promise<void> | undefined
  const timer = setInterval(() => { running ??= check().finally(() => { running = undefined }) }, options.healthIntervalMs)
  timer.unref()

  return {
    dispatcher,
    origins,
    inRotation: () => [...rotation],
    check,
    async close () {
      clearInterval(timer)
      await running
      await dispatcher.close()
    },
  }
}
