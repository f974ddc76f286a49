// Which responses the edge may compress, and how a compressed one's headers change. Pure: the compression
// plugin (proxy/plugins/response-compression.ts) and the cache's variants (proxy/cache/encoded-variants.ts)
// both decide by it, so a response is coded the same way whether it was stored or not.
import type { IncomingHttpHeaders } from 'node:http'
import { parseCacheControl } from '../cache/http-cache-policy.ts'
import { cachedNegotiator, type Coding, type Encoding } from './negotiation.ts'

export interface CompressionSettings {
  enabled: boolean
  /** Offered codings, most preferred first. */
  encodings: Encoding[]
  levels: Record<Encoding, number>
  /** Smaller bodies go uncoded: the coding's framing and the CPU buy next to nothing. */
  minBytes: number
}

// Text that compresses. Everything else — images, archives, fonts, octet-streams, already-coded media — is left
// alone: an allowlist, as Caddy's encode has, so a type nobody thought of is never squeezed for nothing.
const COMPRESSIBLE = new RegExp(
  '^(text/|image/svg\\+xml\\b|application/(json|javascript|ecmascript|xml|' +
    'graphql-response\\+json|x-www-form-urlencoded|[\\w.+-]+\\+(json|xml))\\b)',
  'i',
)

// Server-sent events are text but a stream of small, timely messages: a coder would hold them back until it had
// enough to emit.
const EVENT_STREAM = /^text\/event-stream\b/i

export const compressibleType = (contentType: unknown): boolean =>
  typeof contentType === 'string' && COMPRESSIBLE.test(contentType) && !EVENT_STREAM.test(contentType)

const header = (value: unknown): string | undefined =>
  Array.isArray(value) ? value.join(', ') : typeof value === 'number' ? String(value) : (value as string | undefined)

/**
 * Whether this response would be coded for a client that asks for it: a body of a compressible type, at least
 * minBytes long (`size` undefined: not known yet, a stream), that is not partial, not coded already, and whose
 * sender did not forbid transformation (no-transform, RFC 9111 §5.2.2.6). Such a response varies on
 * Accept-Encoding, whoever asks.
 */
export function responseVaries(
  status: number,
  headers: Record<string, unknown>,
  size: number | undefined,
  settings: CompressionSettings,
): boolean {
  if (status < 200 || status === 204 || status === 206 || status === 304) return false
  if (size !== undefined && size < settings.minBytes) return false
  if (headers['content-encoding'] !== undefined || headers['content-range'] !== undefined) return false
  if (!compressibleType(headers['content-type'])) return false
  const cacheControl = header(headers['cache-control'])
  // Parsed only when it may say no-transform: this runs for every compressible response, asked for or not.
  return (
    cacheControl === undefined ||
    !/no-transform/i.test(cacheControl) ||
    !parseCacheControl(cacheControl).has('no-transform')
  )
}

/** The request's side: what it asked for, unless it is a HEAD, a range, or forbids transformation itself. */
export function requestCoder(settings: CompressionSettings): (method: string, headers: IncomingHttpHeaders) => Coding {
  const negotiate = cachedNegotiator(settings.encodings)
  return (method, headers) => {
    const accept = headers['accept-encoding']
    if (accept === undefined || method === 'HEAD' || headers.range !== undefined) return 'identity'
    const cacheControl = headers['cache-control']
    if (cacheControl !== undefined && parseCacheControl(cacheControl).has('no-transform')) return 'identity'
    return negotiate(accept)
  }
}

/** Vary with Accept-Encoding added once (kept as sent otherwise). */
export function varyWithAcceptEncoding(vary: unknown): string {
  const text = header(vary)
  if (text === undefined || text.trim() === '') return 'Accept-Encoding'
  const names = text.split(',').map(name => name.trim().toLowerCase())
  if (names.includes('accept-encoding') || names.includes('*')) return text
  return `${text}, Accept-Encoding`
}

/**
 * A coded variant's ETag: a strong one made weak (as nginx does). Its bytes differ from the uncoded
 * representation's, so the strong tag no longer names them; the weak one still matches it in If-None-Match
 * (weak comparison, RFC 9110 §13.1.2), at this cache and at the API alike, so revalidation keeps working.
 */
export function weakEtag(etag: unknown): string | undefined {
  const text = header(etag)
  if (text === undefined) return undefined
  return text.startsWith('W/') ? text : `W/${text}`
}
