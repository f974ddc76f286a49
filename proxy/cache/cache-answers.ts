// How the edge's cache answers: from an entry (a hit, a collapsed miss, a stale entry covering a failure), coded
// on the way for a client that asked when the entry was not coded yet; or with what the upstream sent (a miss),
// saying in Cache-Status what happened and answering a matching If-None-Match with 304.
import type { FastifyReply } from 'fastify'
import type { Counter } from 'prom-client'
import type { Coding } from '../compression/negotiation.ts'
import type { UpstreamResponse } from '../plugins/forward.ts'
import { EDGE_SECURITY_HEADERS } from '../plugins/security-headers.ts'
import type { Clock } from '../../common/clock.ts'
import type { EncodedVariants } from './encoded-variants.ts'
import { cacheStatus, etagMatches, type CacheStatus } from './http-cache-policy.ts'
import type { CacheKey, CachedResponse } from './response-store.ts'

export type Miss = 'uri-miss' | 'vary-miss' | 'stale' | 'request'

/** How the one fetch of a key ended, for the requests that waited on it: the entry it stored, or its failure. */
export interface Flight {
  entry?: CachedResponse
  failedStatus?: number
}

export interface CacheState {
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

export class CacheAnswers {
  private readonly variants: EncodedVariants
  private readonly lookups: Counter<'outcome'>
  private readonly clock: Clock
  constructor(
    variants: EncodedVariants,
    /** gatehouse_proxy_cache_lookups_total, by outcome. */
    lookups: Counter<'outcome'>,
    clock: Clock,
  ) {
    this.variants = variants
    this.lookups = lookups
    this.clock = clock
  }

  /** Answers from an entry; an uncoded one is coded on the way for a client that asked (stale, collapsed). */
  serve(
    reply: FastifyReply,
    entry: CachedResponse,
    status: CacheStatus,
    ifNoneMatch: string | undefined,
    coding: Coding = 'identity',
  ): FastifyReply {
    const sent = coding !== 'identity' && entry.encodable === true ? this.variants.make(entry, coding) : entry
    reply.codingDecided = true
    for (const [name, value] of Object.entries(sent.headers)) reply.header(name, value)
    reply.header('age', String(Math.max(0, Math.floor((this.clock.now() - sent.storedAt) / 1000))))
    reply.header('cache-status', cacheStatus(status))
    if (etagMatches(ifNoneMatch, sent.headers.etag)) {
      reply.removeHeader('content-type')
      reply.removeHeader('content-encoding')
      return reply.code(304).send()
    }
    return reply.code(sent.status).send(sent.body)
  }

  answerUnstored(
    reply: FastifyReply,
    state: CacheState,
    response: UpstreamResponse,
    body: Buffer | NodeJS.ReadableStream,
  ): void {
    state.settle?.(response.statusCode >= 500 ? { failedStatus: response.statusCode } : {})
    this.answerMiss(reply, state, response, false, body)
  }

  /** A miss says what happened in Cache-Status, then answers 304 if the client's validator matches, or the body. */
  answerMiss(
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

  serveStale(reply: FastifyReply, state: CacheState, fwdStatus: number): FastifyReply {
    this.lookups.inc({ outcome: 'stale' })
    state.settle?.({ failedStatus: fwdStatus })
    const stale = state.stale!
    // What the failed response set goes; the edge's own headers (request id, budget, security policy) stay.
    for (const name of Object.keys(reply.getHeaders())) {
      if (name !== 'x-request-id' && !name.startsWith('ratelimit') && !EDGE_SECURITY_HEADERS.has(name)) {
        reply.removeHeader(name)
      }
    }
    const ttlSeconds = Math.floor((stale.freshUntil - this.clock.now()) / 1000)
    const status: CacheStatus = { fwd: 'stale', fwdStatus, ttlSeconds, detail: 'stale-if-error' }
    return this.serve(reply, stale, status, state.ifNoneMatch, state.coding)
  }
}
