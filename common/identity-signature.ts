// The identity the edge proxy vouches for, signed so the API can refuse anything a client forged.
// The MAC covers who (tenant, user), which request (id, method, URL) and when (timestamp), so a captured
// header set cannot be replayed against another path or after the freshness window.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const IDENTITY_HEADERS = {
  tenant: 'x-gatehouse-tenant',
  user: 'x-gatehouse-user',
  timestamp: 'x-gatehouse-timestamp',
  signature: 'x-gatehouse-signature',
  requestId: 'x-request-id',
} as const

export interface SignedIdentity {
  tenant: string
  user: string
  requestId: string
  method: string
  url: string
}

const SIGNATURE_VERSION = 'v1'

function mac (secret: string, identity: SignedIdentity, timestamp: string): string {
  const payload = [SIGNATURE_VERSION, identity.tenant, identity.user, identity.requestId,
    identity.method.toUpperCase(), identity.url, timestamp].join('\n')
  return createHmac('sha256', secret).update(payload).digest('base64url')
}

/** Headers the proxy adds to an upstream request. */
export function signIdentity (secret: string, identity: SignedIdentity, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000))
  return {
    [IDENTITY_HEADERS.tenant]: identity.tenant,
    [IDENTITY_HEADERS.user]: identity.user,
    [IDENTITY_HEADERS.requestId]: identity.requestId,
    [IDENTITY_HEADERS.timestamp]: timestamp,
    [IDENTITY_HEADERS.signature]: `${SIGNATURE_VERSION}=${mac(secret, identity, timestamp)}`,
  }
}

export type VerifyResult =
  | { ok: true, identity: SignedIdentity }
  | { ok: false, reason: 'missing' | 'malformed' | 'stale' | 'bad-signature' }

type HeaderBag = Record<string, string | string[] | undefined>

function single (headers: HeaderBag, name: string): string | undefined {
  const value = headers[name]
  return typeof value === 'string' ? value : undefined
}

export function verifyIdentity (
  secret: string,
  request: { method: string, url: string, headers: HeaderBag },
  maxAgeSeconds: number,
  now = Date.now(),
): VerifyResult {
  const tenant = single(request.headers, IDENTITY_HEADERS.tenant)
  const user = single(request.headers, IDENTITY_HEADERS.user)
  const timestamp = single(request.headers, IDENTITY_HEADERS.timestamp)
  const signature = single(request.headers, IDENTITY_HEADERS.signature)
  const requestId = single(request.headers, IDENTITY_HEADERS.requestId) ?? ''
  if (tenant === undefined || user === undefined || timestamp === undefined || signature === undefined) {
    return { ok: false, reason: 'missing' }
  }
  if (!/^\d{1,12}$/.test(timestamp) || !signature.startsWith(`${SIGNATURE_VERSION}=`)) {
    return { ok: false, reason: 'malformed' }
  }
  if (Math.abs(now / 1000 - Number(timestamp)) > maxAgeSeconds) return { ok: false, reason: 'stale' }

  const identity = { tenant, user, requestId, method: request.method, url: request.url }
  const expected = Buffer.from(mac(secret, identity, timestamp))
  const given = Buffer.from(signature.slice(SIGNATURE_VERSION.length + 1))
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' }
  return { ok: true, identity }
}
