// The identity the edge proxy vouches for, signed so the API can refuse anything a client forged.
// The MAC covers who (tenant, user), which request (id, method, URL, body digest) and when (timestamp), so a
// captured header set cannot be replayed against another path, with another body, or after the freshness window.
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto'

export const IDENTITY_HEADERS = {
  tenant: 'x-gatehouse-tenant',
  user: 'x-gatehouse-user',
  timestamp: 'x-gatehouse-timestamp',
  signature: 'x-gatehouse-signature',
  requestId: 'x-request-id',
} as const

/** RFC 9530 Content-Digest: signed with the identity whenever the request has a body. */
export const CONTENT_DIGEST_HEADER = 'content-digest'

export interface SignedIdentity {
  tenant: string
  user: string
  requestId: string
  method: string
  url: string
}

// v2 added the body's digest; a v1 signature (which did not cover the body) is refused as malformed.
const SIGNATURE_VERSION = 'v2'
// The one form the proxy sends: a single sha-256 member (RFC 9530 §2, RFC 8941 byte sequence).
const SHA256_DIGEST = /^sha-256=:[A-Za-z0-9+/]{43}=:$/

/** The Content-Digest field value of a body: `sha-256=:<base64>:`. */
export function contentDigest(body: Buffer | string): string {
  return finishContentDigest(createHash('sha256').update(body))
}

/** The Content-Digest field value from a sha-256 hash already fed the body, as it streamed by. */
export function finishContentDigest(sha256: Hash): string {
  return `sha-256=:${sha256.digest('base64')}:`
}

function mac(secret: string, identity: SignedIdentity, timestamp: string, digest: string): string {
  const payload = [
    SIGNATURE_VERSION,
    identity.tenant,
    identity.user,
    identity.requestId,
    identity.method.toUpperCase(),
    identity.url,
    timestamp,
    digest,
  ].join('\n')
  return createHmac('sha256', secret).update(payload).digest('base64url')
}

/** Headers the proxy adds to an upstream request; with a non-empty body, its Content-Digest too. */
export function signIdentity(
  secret: string,
  identity: SignedIdentity & { body?: Buffer | string },
  now = Date.now(),
): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000))
  const digest = identity.body !== undefined && identity.body.length > 0 ? contentDigest(identity.body) : ''
  return {
    [IDENTITY_HEADERS.tenant]: identity.tenant,
    [IDENTITY_HEADERS.user]: identity.user,
    [IDENTITY_HEADERS.requestId]: identity.requestId,
    [IDENTITY_HEADERS.timestamp]: timestamp,
    [IDENTITY_HEADERS.signature]: `${SIGNATURE_VERSION}=${mac(secret, identity, timestamp, digest)}`,
    ...(digest !== '' ? { [CONTENT_DIGEST_HEADER]: digest } : {}),
  }
}

export type VerifyResult =
  /** `contentDigest`: the signed digest the body must match, when the request has one. */
  | { ok: true; identity: SignedIdentity; contentDigest?: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'bad-signature' | 'unsigned-body' }

type HeaderBag = Record<string, string | string[] | undefined>

function single(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name]
  return typeof value === 'string' ? value : undefined
}

/** Whether the request's framing announces a body (RFC 9112 §6.3): chunked, or a length other than 0. */
export function framesBody(headers: HeaderBag): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0)
}

/**
 * Checks the headers only. The body itself is compared with the returned `contentDigest` as it is read
 * (the API's body-digest hook); a request that frames a body without a signed digest is refused here.
 */
export function verifyIdentity(
  secret: string,
  request: { method: string; url: string; headers: HeaderBag },
  maxAgeSeconds: number,
  now = Date.now(),
): VerifyResult {
  const tenant = single(request.headers, IDENTITY_HEADERS.tenant)
  const user = single(request.headers, IDENTITY_HEADERS.user)
  const timestamp = single(request.headers, IDENTITY_HEADERS.timestamp)
  const signature = single(request.headers, IDENTITY_HEADERS.signature)
  const requestId = single(request.headers, IDENTITY_HEADERS.requestId) ?? ''
  // An empty Content-Digest is an empty dictionary (RFC 8941 §4.2): no digest, as if the field were absent.
  const digest = request.headers[CONTENT_DIGEST_HEADER] === '' ? undefined : request.headers[CONTENT_DIGEST_HEADER]
  if (tenant === undefined || user === undefined || timestamp === undefined || signature === undefined) {
    return { ok: false, reason: 'missing' }
  }
  // A repeated Content-Digest arrives joined (`a, b`) or as an array: neither is the one form the proxy sends.
  if (
    !/^\d{1,12}$/.test(timestamp) ||
    !signature.startsWith(`${SIGNATURE_VERSION}=`) ||
    (digest !== undefined && (typeof digest !== 'string' || !SHA256_DIGEST.test(digest)))
  ) {
    return { ok: false, reason: 'malformed' }
  }
  if (Math.abs(now / 1000 - Number(timestamp)) > maxAgeSeconds) return { ok: false, reason: 'stale' }

  const identity = { tenant, user, requestId, method: request.method, url: request.url }
  const expected = Buffer.from(mac(secret, identity, timestamp, digest ?? ''))
  const given = Buffer.from(signature.slice(SIGNATURE_VERSION.length + 1))
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad-signature' }
  }
  if (digest !== undefined) return { ok: true, identity, contentDigest: digest }
  return framesBody(request.headers) ? { ok: false, reason: 'unsigned-body' } : { ok: true, identity }
}
