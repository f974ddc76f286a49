// What a shared cache may store and reuse, after RFC 9111 (HTTP caching), and how it says what it did,
// after RFC 9211 (Cache-Status). Pure functions: the plugin (proxy/plugins/response-cache.ts) does the I/O.
// @see https://www.rfc-editor.org/rfc/rfc9111  https://www.rfc-editor.org/rfc/rfc9211
import type { OutgoingHttpHeaders } from 'node:http'

export type CacheControl = Map<string, string | true>

/** `max-age=0, s-maxage=5, no-cache="set-cookie"` → { max-age: '0', s-maxage: '5', no-cache: 'set-cookie' } */
export function parseCacheControl(header: unknown): CacheControl {
  const directives: CacheControl = new Map()
  const text = Array.isArray(header) ? header.join(',') : typeof header === 'string' ? header : ''
  for (const part of text.split(',')) {
    const [rawName, ...rest] = part.split('=')
    const name = rawName?.trim().toLowerCase()
    if (name === undefined || name === '') continue
    const value = rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1')
    if (!directives.has(name)) directives.set(name, rest.length > 0 ? value : true)
  }
  return directives
}

function seconds(directives: CacheControl, name: string): number | undefined {
  const value = directives.get(name)
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

export interface Storable {
  storable: true
  /** How long the response is fresh, from now. */
  freshMs: number
  /** How long after that it may still be served when the upstream fails (stale-if-error). */
  staleIfErrorMs: number
}
export type Decision = Storable | { storable: false; reason: string }

const STORABLE_STATUS = new Set([200, 203, 204, 300, 301, 404, 410])

/**
 * May a shared cache keep this response to an authenticated GET? Only with explicit shared-cache
 * permission (s-maxage or public), as RFC 9111 §3.5 requires for requests carrying Authorization.
 */
export function responseDecision(
  status: number,
  headers: OutgoingHttpHeaders,
  maxStaleIfErrorSeconds: number,
): Decision {
  if (!STORABLE_STATUS.has(status)) return { storable: false, reason: 'status' }
  const directives = parseCacheControl(headers['cache-control'])
  for (const forbidden of ['no-store', 'private', 'no-cache']) {
    if (directives.has(forbidden)) return { storable: false, reason: forbidden }
  }
  if (headers['set-cookie'] !== undefined) return { storable: false, reason: 'set-cookie' }
  if (varyNames(headers.vary) === '*') return { storable: false, reason: 'vary-star' }
  const shared = seconds(directives, 's-maxage')
  const lifetime = shared ?? (directives.has('public') ? seconds(directives, 'max-age') : undefined)
  if (lifetime === undefined) return { storable: false, reason: 'no-shared-lifetime' }
  if (lifetime === 0) return { storable: false, reason: 'zero-lifetime' }
  const staleIfError = Math.min(seconds(directives, 'stale-if-error') ?? 0, maxStaleIfErrorSeconds)
  return { storable: true, freshMs: lifetime * 1000, staleIfErrorMs: staleIfError * 1000 }
}

/** What the client asked of caches: `no-store` skips the cache, `no-cache` or `max-age=0` revalidates. */
export function requestDirectives(header: unknown): { noStore: boolean; mustRevalidate: boolean } {
  const directives = parseCacheControl(header)
  return {
    noStore: directives.has('no-store'),
    mustRevalidate: directives.has('no-cache') || seconds(directives, 'max-age') === 0,
  }
}

/** Lower-cased header names a response varies on, sorted; '*' when it varies on everything. */
export function varyNames(header: unknown): string[] | '*' {
  const text = Array.isArray(header) ? header.join(',') : typeof header === 'string' ? header : ''
  const names = text
    .split(',')
    .map(name => name.trim().toLowerCase())
    .filter(Boolean)
  return names.includes('*') ? '*' : [...new Set(names)].sort()
}

const opaque = (tag: string): string => tag.trim().replace(/^W\//, '')

/** If-None-Match against an ETag, by the weak comparison RFC 9110 §13.1.2 prescribes for GET. */
export function etagMatches(ifNoneMatch: unknown, etag: unknown): boolean {
  if (typeof ifNoneMatch !== 'string' || typeof etag !== 'string') return false
  if (ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some(candidate => opaque(candidate) === opaque(etag))
}

export const CACHE_NAME = 'Gatehouse'

export type CacheStatus =
  | { hit: true; ttlSeconds: number; detail?: string }
  | {
      fwd: 'uri-miss' | 'vary-miss' | 'stale' | 'request' | 'bypass' | 'method'
      fwdStatus?: number
      stored?: boolean
      collapsed?: boolean
      ttlSeconds?: number
      detail?: string
    }

/** The RFC 9211 Cache-Status field value for what this cache did. */
export function cacheStatus(status: CacheStatus): string {
  const parts = [CACHE_NAME]
  if ('hit' in status) {
    parts.push('hit', `ttl=${status.ttlSeconds}`)
    if (status.detail !== undefined) parts.push(`detail=${status.detail}`)
    return parts.join('; ')
  }
  parts.push(`fwd=${status.fwd}`)
  if (status.fwdStatus !== undefined) parts.push(`fwd-status=${status.fwdStatus}`)
  if (status.ttlSeconds !== undefined) parts.push(`ttl=${status.ttlSeconds}`)
  if (status.stored === true) parts.push('stored')
  if (status.collapsed === true) parts.push('collapsed')
  if (status.detail !== undefined) parts.push(`detail=${status.detail}`)
  return parts.join('; ')
}
