// What of an upstream response the edge's cache keeps, and whether a kept one fits the request at hand: the
// response's lifetimes (http-cache-policy.ts), the request's values of the headers it varies on, and the headers
// stored with it. Pure functions of the request and response: the plugin (plugins/response-cache.ts) decides when.
import type { FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import { downstreamHeaders } from '../forwarding/upstream-headers.ts'
import { responseDecision, varyNames, type Storable } from './http-cache-policy.ts'
import type { CachedResponse } from './response-store.ts'

/** The cache settings a response is held to. */
export interface StorageLimits {
  maxStaleIfErrorSeconds: number
  maxEntryBytes: number
}

// Never stored with an entry (besides what downstreamHeaders drops): per-request headers and the edge's own.
const UNSTORED = new Set(['content-length', 'set-cookie', 'x-request-id', 'age', 'cache-status'])

// Identity the edge itself sends upstream: a response varying on it varies on who the caller is.
const PRINCIPAL_HEADERS = new Set(['x-gatehouse-tenant', 'x-gatehouse-user', 'authorization'])

function varyValues(request: FastifyRequest, names: string[]): Record<string, string> | undefined {
  const values: Record<string, string> = {}
  for (const name of names) {
    if (PRINCIPAL_HEADERS.has(name)) values[name] = `${request.principal?.tenant}/${request.principal?.user}`
    // The rest of the edge's own headers are signed per request: a response varying on them is nobody else's.
    else if (name.startsWith('x-gatehouse-')) return undefined
    else {
      const value = request.headers[name]
      values[name] = Array.isArray(value) ? value.join(', ') : (value ?? '')
    }
  }
  return values
}

export const varyMatches = (entry: CachedResponse, request: FastifyRequest): boolean => {
  const now = varyValues(request, Object.keys(entry.vary))
  return now !== undefined && Object.entries(entry.vary).every(([name, value]) => now[name] === value)
}

/** A response found storable: its lifetimes, and the request's values of the headers it varies on. */
export interface StoragePlan {
  decision: Storable
  vary: Record<string, string>
}

export function entryOf(
  plan: StoragePlan,
  status: number,
  headers: IncomingHttpHeaders,
  body: Buffer,
  now: number,
): CachedResponse {
  const kept: CachedResponse['headers'] = {}
  for (const [name, value] of Object.entries(downstreamHeaders(headers))) {
    if (value !== undefined && !UNSTORED.has(name)) kept[name] = value
  }
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

/**
 * What of this response may be stored — how long it stays fresh and usable when stale, and the request's
 * values of the headers it varies on — or why nothing may, as far as its status and headers tell.
 */
export function storagePlan(
  request: FastifyRequest,
  status: number,
  headers: IncomingHttpHeaders,
  limits: StorageLimits,
): StoragePlan | { reason: string } {
  const decision = responseDecision(status, headers, limits.maxStaleIfErrorSeconds)
  if (!decision.storable) return { reason: decision.reason }
  const vary = varyValues(request, varyNames(headers.vary) as string[])
  if (vary === undefined) return { reason: 'vary-per-request' }
  if (Number(headers['content-length'] ?? 0) > limits.maxEntryBytes) return { reason: 'too-large' }
  return { decision, vary }
}
