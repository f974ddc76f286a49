// The edge's shared response cache. GET/HEAD responses the API marks shareable (s-maxage) are kept per
// tenant — the tenant is part of every key, so one tenant is never served another's entry — in the
// store @fastify/caching holds (memory, bounded; Redis with REDIS_URL). Conditional requests are
// answered here; concurrent misses for one key wait for a single upstream request; a failing upstream is
// covered by a stale entry within its stale-if-error window; a successful write makes the tenant's
// entries unreachable. Every response says what happened in Cache-Status (RFC 9211). Clients that ask for a
// coding get a coded variant, made once and kept beside the entry (proxy/cache/encoded-variants.ts).
//
// @fastify/caching's own reply.etag() registry is not used: it is global, not per tenant, so it could
// answer one tenant's If-None-Match with another tenant's validator.
// @see https://github.com/fastify/fastify-caching
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import caching from '@fastify/caching'
import type { IncomingHttpHeaders } from 'node:http'
import type { ProxyConfig } from '../config.js'
import { readUpTo } from '../cache/bounded-body.js'
import { EncodedVariants } from '../cache/encoded-variants.js'
import type { Coding } from '../compression/negotiation.js'
import { requestCoder, type CompressionSettings } from '../compression/policy.js'
import { SingleFlight } from '../cache/single-flight.js'
import {
  cacheStatus,
  etagMatches,
  requestDirectives,
  responseDecision,
  varyNames,
  type CacheStatus,
  type Storable,
} from '../cache/http-cache-policy.js'
import {
  memoryResponseStore,
  redisResponseStore,
  type CacheKey,
  type CachedResponse,
  type ResponseStore,
} from '../cache/response-store.js'
import { downstreamHeaders } from '../forwarding/upstream-headers.js'
import type { UpstreamResponse } from './forward.js'
import { EDGE_SECURITY_HEADERS } from './security-headers.js'
import { READ_ONLY_RESPONSE_HEADER } from '../../common/edge-protocol.js'

type Miss = 'uri-miss' | 'vary-miss' | 'stale' | 'request'

/** How the one fetch of a key ended, for the requests that waited on it: the entry it stored, or its failure. */
interface Flight {
  entry?: CachedResponse
  failedStatus?: number
}

interface CacheState {
  mode: 'write' | 'bypass' | 'lookup'
  tenant: string
  key?: CacheKey
  fwd?: Miss
  ifNoneMatch?: string
  /** An entry past freshness that may still cover an upstream failure. */
  stale?: CachedResponse
  /** The content coding this request is to get (identity: none). */
  coding?: Coding
  /** Set for the one request that fetches a key while others wait for it. */
  settle?: (flight: Flight) => void
  detail?: string
}

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

// Never stored with an entry (besides what downstreamHeaders drops): per-request headers and the edge's own.
const UNSTORED = new Set(['content-length', 'set-cookie', 'x-request-id', 'age', 'cache-status'])

// Identity the edge itself sends upstream: a response varying on it varies on who the caller is.
const PRINCIPAL_HEADERS = new Set(['x-gatehouse-tenant', 'x-gatehouse-user', 'authorization'])

function varyValues(request: FastifyRequest, names: string[]): Record<string, string> | undefined {
  const values: Record<string, string> = {}
  for (const name of names) {
    if (PRINCIPAL_HEADERS.has(name)) values[name] = `${request.principal?.tenant}/${request.principal?.user}`
    else if (name.startsWith('x-gatehouse-')) {
      return undefined
    } // signed per request: nothing to share
    else {
      const value = request.headers[name]
      values[name] = Array.isArray(value) ? value.join(', ') : (value ?? '')
    }
  }
  return values
}

const varyMatches = (entry: CachedResponse, request: FastifyRequest): boolean => {
  const now = varyValues(request, Object.keys(entry.vary))
  return now !== undefined && Object.entries(entry.vary).every(([name, value]) => now[name] === value)
}

/** A response found storable: its lifetimes, and the request's values of the headers it varies on. */
interface StoragePlan {
  decision: Storable
  vary: Record<string, string>
}

function entryOf(plan: StoragePlan, status: number, headers: IncomingHttpHeaders, body: Buffer): CachedResponse {
  const kept: CachedResponse['headers'] = {}
  for (const [name, value] of Object.entries(downstreamHeaders(headers))) {
    if (value !== undefined && !UNSTORED.has(name)) kept[name] = value
  }
  const now = Date.now()
  return {
    status,
    headers: kept,
    body,
    vary: plan.vary,
    storedAt: now,
    freshUntil: now + plan.decision.freshMs,
    staleUntil: now + plan.decision.freshMs + plan.decision.staleIfErrorMs,
  }
}

const headerText = (value: unknown): string | undefined =>
  Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : undefined

export type ResponseCacheOptions = ProxyConfig['cache'] & { compression: CompressionSettings }

async function responseCache(app: FastifyInstance, options: ResponseCacheOptions): Promise<void> {
  const { cacheLookups, cacheEntries, redisErrors } = app.edgeMetrics
  const store =
    app.redis !== null
      ? redisResponseStore(app.redis, { prefix: 'gatehouse:cache:', onError: () => redisErrors.inc() })
      : memoryResponseStore({ maxEntries: options.maxEntries, maxBytes: options.maxBytes, onError: () => {} })
  await app.register(caching, { cache: store as never, cacheSegment: 'gatehouse-etags' })

  const flights = new SingleFlight<Flight>()
  app.decorateRequest('cacheState', null)
  if (!app.hasReplyDecorator('codingDecided')) app.decorateReply('codingDecided', false)
  const variants = new EncodedVariants(store, options.compression)
  const codingOf = options.compression.enabled ? requestCoder(options.compression) : (): Coding => 'identity'

  /** Answers from an entry; an uncoded one is coded on the way for a client that asked (stale, collapsed). */
  function serve(
    reply: FastifyReply,
    entry: CachedResponse,
    status: CacheStatus,
    ifNoneMatch: string | undefined,
    coding: Coding = 'identity',
  ): FastifyReply {
    const sent = coding !== 'identity' && entry.encodable === true ? variants.make(entry, coding) : entry
    reply.codingDecided = true
    for (const [name, value] of Object.entries(sent.headers)) reply.header(name, value)
    reply.header('age', String(Math.max(0, Math.floor((Date.now() - sent.storedAt) / 1000))))
    reply.header('cache-status', cacheStatus(status))
    if (etagMatches(ifNoneMatch, sent.headers.etag)) {
      reply.removeHeader('content-type')
      reply.removeHeader('content-encoding')
      return reply.code(304).send()
    }
    return reply.code(sent.status).send(sent.body)
  }

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
      const now = Date.now()
      if (coded !== undefined && now < coded.freshUntil && !asked.mustRevalidate && varyMatches(coded, request)) {
        cacheLookups.inc({ outcome: 'hit' })
        return serve(reply, coded, { hit: true, ttlSeconds: Math.floor((coded.freshUntil - now) / 1000) }, ifNoneMatch)
      }
    }
    const found = (await store.get(key))?.item
    const variantFits = found !== undefined && varyMatches(found, request)
    const now = Date.now()
    if (found !== undefined && variantFits && now < found.freshUntil && !asked.mustRevalidate) {
      cacheLookups.inc({ outcome: 'hit' })
      const ttlSeconds = Math.floor((found.freshUntil - now) / 1000)
      if (coding === 'identity' || found.encodable !== true) {
        return serve(reply, found, { hit: true, ttlSeconds }, ifNoneMatch)
      }
      // The first request for this coding: made once, kept for the next ones.
      const coded = variants.make(found, coding)
      await variants.keep(key, coding, coded)
      return serve(reply, coded, { hit: true, ttlSeconds, detail: `encoded-${coding}` }, ifNoneMatch)
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
        return serve(reply, shared.entry, { fwd, collapsed: true, fwdStatus: shared.entry.status }, ifNoneMatch, coding)
      }
      // The upstream just failed (or timed out) for this key: asking it again would most likely fail the
      // same way after as long a wait, so the stale entry this request may use is served at once.
      if (shared.failedStatus !== undefined && stale !== undefined && Date.now() < stale.staleUntil) {
        return serveStale(reply, request.cacheState, shared.failedStatus)
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

  /**
   * What of this response may be stored — how long it stays fresh and usable when stale, and the request's
   * values of the headers it varies on — or why nothing may, as far as its status and headers tell.
   */
  function storagePlan(
    request: FastifyRequest,
    status: number,
    headers: IncomingHttpHeaders,
  ): StoragePlan | { reason: string } {
    const decision = responseDecision(status, headers, options.maxStaleIfErrorSeconds)
    if (!decision.storable) return { reason: decision.reason }
    const vary = varyValues(request, varyNames(headers.vary) as string[])
    if (vary === undefined) return { reason: 'vary-per-request' }
    if (Number(headers['content-length'] ?? 0) > options.maxEntryBytes) return { reason: 'too-large' }
    return { decision, vary }
  }

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
    if (fwdStatus >= 500 && state.stale !== undefined && Date.now() < state.stale.staleUntil) {
      if (!Buffer.isBuffer(response.body)) response.body.resume()
      serveStale(reply, state, fwdStatus)
      return
    }
    // Only a response that may be stored is held whole before it is answered. Any other streams through as it
    // comes, at the pace the client reads (backpressure reaches the API): a large one, or one for a client
    // that stops reading, must not sit in the edge's memory.
    const plan = request.method === 'GET' ? storagePlan(request, fwdStatus, response.headers) : undefined
    if (plan === undefined || 'reason' in plan) {
      if (plan !== undefined) state.detail = plan.reason
      answerUnstored(reply, state, response, response.body)
      return
    }
    readUpTo(response.body, options.maxEntryBytes, {
      async whole(body) {
        const entry = entryOf(plan, fwdStatus, response.headers, body)
        variants.prepare(entry)
        state.settle?.({ entry })
        // Stored before it is answered: whoever asks next, here or at another proxy, finds it.
        await store.set(state.key!, entry, entry.staleUntil - entry.storedAt)
        const coded = await variants.replaced(state.key!, entry, state.coding ?? 'identity')
        cacheEntries.set(store.size)
        reply.codingDecided = true
        if (entry.encodable === true) reply.header('vary', entry.headers.vary)
        if (coded === undefined) return answerMiss(reply, state, response, true, body)
        reply.header('content-encoding', coded.headers['content-encoding'])
        if (coded.headers.etag !== undefined) reply.header('etag', coded.headers.etag)
        reply.header('content-length', coded.body.length)
        answerMiss(reply, state, response, true, coded.body)
      },
      tooLarge(body) {
        state.detail = 'too-large'
        answerUnstored(reply, state, response, body)
      },
      failed(error) {
        state.settle?.({})
        reply.send(error)
      },
    })
  }

  function answerUnstored(
    reply: FastifyReply,
    state: CacheState,
    response: UpstreamResponse,
    body: Buffer | NodeJS.ReadableStream,
  ): void {
    state.settle?.(response.statusCode >= 500 ? { failedStatus: response.statusCode } : {})
    answerMiss(reply, state, response, false, body)
  }

  /** A miss says what happened in Cache-Status, then answers 304 if the client's validator matches, or the body. */
  function answerMiss(
    reply: FastifyReply,
    state: CacheState,
    response: UpstreamResponse,
    stored: boolean,
    body: Buffer | NodeJS.ReadableStream,
  ): void {
    const fwdStatus = response.statusCode
    reply.header(
      'cache-status',
      cacheStatus({
        fwd: state.fwd!,
        fwdStatus,
        stored,
        ...(state.detail !== undefined ? { detail: state.detail } : {}),
      }),
    )
    if (fwdStatus === 200 && etagMatches(state.ifNoneMatch, response.headers.etag)) {
      if (!Buffer.isBuffer(body)) body.resume()
      reply.removeHeader('content-length')
      reply.removeHeader('content-type')
      reply.removeHeader('content-encoding')
      reply.code(304).send()
      return
    }
    reply.send(body)
  }

  function serveStale(reply: FastifyReply, state: CacheState, fwdStatus: number): FastifyReply {
    cacheLookups.inc({ outcome: 'stale' })
    state.settle?.({ failedStatus: fwdStatus })
    const stale = state.stale!
    // What the failed response set goes; the edge's own headers (request id, budget, security policy) stay.
    for (const name of Object.keys(reply.getHeaders())) {
      if (name !== 'x-request-id' && !name.startsWith('ratelimit') && !EDGE_SECURITY_HEADERS.has(name)) {
        reply.removeHeader(name)
      }
    }
    const ttlSeconds = Math.floor((stale.freshUntil - Date.now()) / 1000)
    const status: CacheStatus = { fwd: 'stale', fwdStatus, ttlSeconds, detail: 'stale-if-error' }
    return serve(reply, stale, status, state.ifNoneMatch, state.coding)
  }

  function onUpstreamError(request: FastifyRequest, reply: FastifyReply, status: 502 | 504): boolean {
    const state = request.cacheState
    if (state?.mode === 'lookup' && state.stale !== undefined && Date.now() < state.stale.staleUntil) {
      serveStale(reply, state, status)
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
