// The minimal Node edge's compression (bench/minimal-edge.ts): what a plain Node server does to code a body it holds,
// with the proxy's own one-shot coder at its default levels, so the floor does the same work per body as the proxy.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { encodeSync } from '../proxy/compression/codecs.ts'
import type { Encoding } from '../proxy/compression/negotiation.ts'
import { compressibleType, weakEtag } from '../proxy/compression/policy.ts'
import { ProxyEnvSchema } from '../proxy/config.ts'
import type { Entry } from './minimal-edge.ts'

// The proxy's defaults (COMPRESSION_*_LEVEL, COMPRESSION_MIN_BYTES), so both do the same work per body.
const defaultOf = (name: keyof typeof ProxyEnvSchema.properties): number =>
  (ProxyEnvSchema.properties[name] as unknown as { default: number }).default
const LEVELS: Record<Encoding, number> = {
  gzip: defaultOf('COMPRESSION_GZIP_LEVEL'),
  br: defaultOf('COMPRESSION_BROTLI_LEVEL'),
  zstd: defaultOf('COMPRESSION_ZSTD_LEVEL'),
}
const MIN_BYTES = defaultOf('COMPRESSION_MIN_BYTES')
const ASKED: Array<[Encoding, RegExp]> = [
  ['zstd', /\bzstd\b/],
  ['br', /\bbr\b/],
  ['gzip', /\bgzip\b/],
]

/** The coding to send, picked as Node's zlib documentation's example server does: named in the header (no q-values). */
export function minimalCoding(acceptEncoding: string | undefined): Encoding | undefined {
  if (acceptEncoding === undefined) return undefined
  for (const [encoding, named] of ASKED) if (named.test(acceptEncoding)) return encoding
  return undefined
}

/** Whether an upstream answer of this size would be coded for a client that asks (Vary says so to everyone). */
export function encodable(headers: IncomingHttpHeaders | OutgoingHttpHeaders, size: number): boolean {
  return size >= MIN_BYTES && headers['content-encoding'] === undefined && compressibleType(headers['content-type'])
}

/** The entry coded at once: Content-Encoding, its length, a weak ETag (a strong one no longer names these bytes). */
export function encoded(entry: Entry, encoding: Encoding): Entry {
  const body = encodeSync(encoding, entry.body, LEVELS[encoding])
  const headers = { ...entry.headers, 'content-encoding': encoding, 'content-length': body.length }
  const etag = weakEtag(entry.headers.etag)
  if (etag !== undefined) headers.etag = etag
  return { ...entry, headers, body, encodable: false }
}

export const withVary = (headers: OutgoingHttpHeaders): OutgoingHttpHeaders => {
  headers.vary = headers.vary === undefined ? 'Accept-Encoding' : `${String(headers.vary)}, Accept-Encoding`
  return headers
}
