// The edge's shared response cache. GET/HEAD responses the API marks shareable (s-maxage) are kept per
// tenant — the tenant is part of every key, so one tenant is never served another's entry — in the
// store @fastify/caching holds (memory, bounded; Redis with REDIS_URL). Conditional requests are
// answered here; concurrent misses for one key wait for a single upstream request; a failing upstream is
// covered by a stale entry within its stale-if-error window; a successful write makes the tenant's
// entries unreachable. Every response says what happened in Cache-Status (RFC 9211). Clients that ask for a
// coding get a coded variant, made once and kept beside the entry (proxy/cache/encoded-variants.ts).
// This plugin decides when: the lookup before forwarding, and what to do with the upstream's answer. What is kept
// is proxy/cache/storage-plan.ts's call, how an answer goes out proxy/cache/cache-answers.ts's.
//
// @fastify/caching's own reply.etag() registry is not used: it is global, not per tenant, so it could
// answer one tenant's If-None-Match with another tenant's validator.
// @see https://github.com/fastify/fastify-caching
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import caching from '@fastify/caching'
import type { ProxyConfig } from '../config.ts'
import { readUpTo } from '../cache/bounded-body.ts'
import { CacheAnswers, type CacheState, type Flight, type Miss } from '../cache/cache-answers.ts'
import { EncodedVariants } from '../cache/encoded-variants.ts'
import type { Coding } from '../compression/negotiation.ts'
import { requestCoder, type CompressionSettings } from '../compression/policy.ts'
import { SingleFlight } from '../cache/single-flight.ts'
import { cacheStatus, requestDirectives } from '../cache/http-cache-policy.ts'
import { memoryResponseStore, redisResponseStore, type CacheKey, type ResponseStore } from '../cache/response-store.ts'
import { entryOf, storagePlan, varyMatches } from '../cache/storage-plan.ts'
import type { UpstreamResponse } from './forward.ts'
import { READ_ONLY_RESPONSE_HEADER } from '../../common/edge-protocol.ts'
import { systemClock, type Clock } from '../../common/clock.ts'

declare module 'fastify' {
  interface FastifyInstance {
    responseCache: {
      store: ResponseStore
      onUpstreamResponse(request: FastifyRequest, reply: FastifyReply, response: UpstreamResponse): void
      onUpstreamError(request: FastifyRequest, reply: FastifyReply, status: 502 | 504): boolean
    }
  }
  interface FastifyRequest {
    cacheState: CacheState | null
  }
}

const RESPONSES = 'gatehouse-responses'

const headerText = (value: unknown): string | undefined =>
  Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : undefined

export type ResponseCacheOptions = ProxyConfig['cache'] & {
  compression: CompressionSettings
  /** The clock entries age on (the system's unless a test passes one it moves). */
  clock?: Clock
}

async function responseCache(app: FastifyInstance, options: ResponseCacheOptions): Promise<void> {
  const { cacheLookups, cacheEntries, redisErrors } = app.edgeMetrics
  const clock = options.clock ?? systemClock
  const store =
    app.redis !== null
      ? redisResponseStore(app.redis, { prefix: 'gatehouse:cache:', onError: () => redisErrors.inc(), clock })
      : memoryResponseStore({ maxEntries: options.maxEntries, maxBytes: options.maxBytes, onError: () => {}, clock })
  await app.register(caching, { cache: store as never, cacheSegment: 'gatehouse-etags' })

  const flights = new SingleFlight<Flight>()
  app.decorateRequest('cacheState', null)
  if (!app.hasReplyDecorator('codingDecided')) app.decorateReply('codingDecided', false)
  const variants = new EncodedVariants(store, options.compression, clock)
  const answers = new CacheAnswers(variants, cacheLookups, clock)
  const codingOf = options.compression.enabled ? requestCoder(options.compression) : (): Coding => 'identity'

  async function lookup(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const tenant = request.principal?.tenant
    if (tenant === undefined) return
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      request.cacheState = { mode: 'write', tenant }
      return
    }
    const asked = requestDirectives(request.headers['cache-control'])
    const generation = asked.noStore ? undefined : await store.generation(tenant)
    if (generation === undefined) {
      request.cacheState = { mode: 'bypass', tenant, detail: asked.noStore ? 'request-no-store' : 'store-unavailable' }
      cacheLookups.inc({ outcome: 'bypass' })
      return
    }
    const key: CacheKey = { segment: RESPONSES, id: `${tenant}\n${generation}\n${request.url}` }
    // Conditionals are answered here; upstream is asked for the full response so that it can be stored.
    const ifNoneMatch = headerText(request.headers['if-none-match'])
    delete request.headers['if-none-match']
    delete request.headers['if-modified-since']

    const coding = codingOf(request.method, request.headers)
    // A client that asks for a coding is answered from its coded variant when there is one: no compression.
    if (coding !== 'identity') {
      const coded = await variants.find(key, coding)
      const now = clock.now()
      if (coded !== undefined && now < coded.freshUntil && !asked.mustRevalidate && varyMatches(coded, request)) {
        cacheLookups.inc({ outcome: 'hit' })
        return answers.serve(
          reply,
          coded,
          { hit: true, ttlSeconds: Math.floor((coded.freshUntil - now) / 1000) },
          ifNoneMatch,
        )
      }
    }
    const found = (await store.get(key))?.item
    const variantFits = found !== undefined && varyMatches(found, request)
    const now = clock.now()
    if (found !== undefined && variantFits && now < found.freshUntil && !asked.mustRevalidate) {
      cacheLookups.inc({ outcome: 'hit' })
      const ttlSeconds = Math.floor((found.freshUntil - now) / 1000)
      if (coding === 'identity' || found.encodable !== true) {
        return answers.serve(reply, found, { hit: true, ttlSeconds }, ifNoneMatch)
      }
      // The first request for this coding: made once, kept for the next ones.
      const coded = variants.make(found, coding)
      await variants.keep(key, coding, coded)
      return answers.serve(reply, coded, { hit: true, ttlSeconds, detail: `encoded-${coding}` }, ifNoneMatch)
    }
    const fwd: Miss =
      found === undefined
        ? 'uri-miss'
        : !variantFits
          ? 'vary-miss'
          : asked.mustRevalidate && now < found.freshUntil
            ? 'request'
            : 'stale'
    const stale = variantFits && found !== undefined && now < found.staleUntil ? found : undefined
    request.cacheState = {
      mode: 'lookup',
      tenant,
      key,
      fwd,
      coding,
      ...(ifNoneMatch !== undefined ? { ifNoneMatch } : {}),
      ...(stale !== undefined ? { stale } : {}),
    }

    if (request.method !== 'GET') return
    const flight = `${key.segment}\n${key.id}`
    const pending = flights.pending(flight)
    if (pending !== undefined) {
      const shared = await pending
      if (shared.entry !== undefined && varyMatches(shared.entry, request)) {
        cacheLookups.inc({ outcome: 'collapsed' })
        request.cacheState = null
        return answers.serve(
          reply,
          shared.entry,
          { fwd, collapsed: true, fwdStatus: shared.entry.status },
          ifNoneMatch,
          coding,
        )
      }
      // The upstream just failed (or timed out) for this key: asking it again would most likely fail the
      // same way after as long a wait, so the stale entry this request may use is served at once.
      if (shared.failedStatus !== undefined && stale !== undefined && clock.now() < stale.staleUntil) {
        return answers.serveStale(reply, request.cacheState, shared.failedStatus)
      }
      return // the shared fetch gave nothing reusable: fetch on our own
    }
    request.cacheState.settle = flights.start(flight)
    cacheLookups.inc({ outcome: 'miss' })
  }

  app.addHook('onResponse', (request, _reply, done) => {
    request.cacheState?.settle?.({})
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    request.cacheState?.settle?.({})
    done()
  })

  // Route-level, and added after @fastify/rate-limit's own: a cache hit still spends the caller's budget.
  app.addHook('onRoute', (route: RouteOptions) => {
    const existing =
      route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [...existing, lookup] as RouteOptions['preHandler']
  })

  function onUpstreamResponse(request: FastifyRequest, reply: FastifyReply, response: UpstreamResponse): void {
    const state = request.cacheState
    const fwdStatus = response.statusCode
    if (state === null) {
      reply.send(response.body)
      return
    }
    if (state.mode === 'write') {
      reply.header('cache-status', cacheStatus({ fwd: 'method', fwdStatus }))
      // The write's answer waits for the invalidation: a read right after it must not see the old data.
      // A GraphQL query sent by POST changed nothing, and the API says so.
      const changed = fwdStatus >= 200 && fwdStatus < 300 && response.headers[READ_ONLY_RESPONSE_HEADER] === undefined
      if (changed) {
        void store.invalidate(state.tenant).then(() => {
          reply.send(response.body)
        })
      } else reply.send(response.body)
      return
    }
    if (state.mode === 'bypass') {
      reply.header(
        'cache-status',
        cacheStatus({ fwd: 'bypass', fwdStatus, ...(state.detail !== undefined ? { detail: state.detail } : {}) }),
      )
      reply.send(response.body)
      return
    }
    if (fwdStatus >= 500 && state.stale !== undefined && clock.now() < state.stale.staleUntil) {
      if (!Buffer.isBuffer(response.body)) response.body.resume()
      answers.serveStale(reply, state, fwdStatus)
      return
    }
    // Only a response that may be stored is held whole before it is answered. Any other streams through as it
    // comes, at the pace the client reads (backpressure reaches the API): a large one, or one for a client
    // that stops reading, must not sit in the edge's memory.
    const plan = request.method === 'GET' ? storagePlan(request, fwdStatus, response.headers, options) : undefined
    if (plan === undefined || 'reason' in plan) {
      if (plan !== undefined) state.detail = plan.reason
      answers.answerUnstored(reply, state, response, response.body)
      return
    }
    readUpTo(response.body, options.maxEntryBytes, {
      async whole(body) {
        const entry = entryOf(plan, fwdStatus, response.headers, body, clock.now())
        variants.prepare(entry)
        state.settle?.({ entry })
        // Stored before it is answered: whoever asks next, here or at another proxy, finds it.
        await store.set(state.key!, entry, entry.staleUntil - entry.storedAt)
        const coded = await variants.replaced(state.key!, entry, state.coding ?? 'identity')
        cacheEntries.set(store.size)
        reply.codingDecided = true
        if (entry.encodable === true) reply.header('vary', entry.headers.vary)
        if (coded === undefined) return answers.answerMiss(reply, state, response, true, body)
        reply.header('content-encoding', coded.headers['content-encoding'])
        if (coded.headers.etag !== undefined) reply.header('etag', coded.headers.etag)
        reply.header('content-length', coded.body.length)
        answers.answerMiss(reply, state, response, true, coded.body)
      },
      tooLarge(body) {
        state.detail = 'too-large'
        answers.answerUnstored(reply, state, response, body)
      },
      failed(error) {
        state.settle?.({})
        reply.send(error)
      },
    })
  }

  function onUpstreamError(request: FastifyRequest, reply: FastifyReply, status: 502 | 504): boolean {
    const state = request.cacheState
    if (state?.mode === 'lookup' && state.stale !== undefined && clock.now() < state.stale.staleUntil) {
      answers.serveStale(reply, state, status)
      return true
    }
    state?.settle?.({ failedStatus: status })
    if (state !== null) {
      reply.header(
        'cache-status',
        cacheStatus({
          fwd: state.mode === 'write' ? 'method' : state.mode === 'bypass' ? 'bypass' : state.fwd!,
          fwdStatus: status,
        }),
      )
    }
    return false
  }

  app.decorate('responseCache', { store, onUpstreamResponse, onUpstreamError })
}

export default fp(responseCache, {
  name: 'response-cache',
  fastify: '5.x',
  dependencies: ['edge-metrics', 'redis', 'edge-auth'],
})
