// The shared store, when REDIS_URL is set: one connection for rate limits, login failures and the cache.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { connectRedis } from '../stores/redis-connection.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}

async function redis(app: FastifyInstance, options: { url: string | undefined }): Promise<void> {
  if (options.url === undefined) {
    app.decorate('redis', null)
    return
  }
  const { redisUp, redisErrors } = app.edgeMetrics
  const client = connectRedis(options.url, app.log, {
    up: isUp => redisUp.set(isUp ? 1 : 0),
    error: () => redisErrors.inc(),
  })
  app.decorate('redis', client)
  // Start with the shared store when it is there. Bounded: a Redis that does not answer must not stop the edge,
  // and one that refuses the connection has answered (the edge starts at once, on its local fallbacks).
  app.addHook('onReady', async () => {
    if (client.status === 'ready') return
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        client.off('ready', done)
        client.off('error', done)
        resolve()
      }
      const timer = setTimeout(done, 2000)
      client.once('ready', done)
      client.once('error', done)
    })
  })
  app.addHook('onClose', async () => {
    client.disconnect()
  })
}

export default fp(redis, { name: 'redis', fastify: '5.x', dependencies: ['edge-metrics'] })
