// The edge's own questions to the API (a tenant's plan, who owns a hostname): signed GETs under /internal/v1.
// They reuse identity-signature.ts with a reserved identity and a key derived from IDENTITY_SECRET, so a
// signature the edge makes for a tenant user can never open these routes, nor one made here a tenant route.
import { createHmac } from 'node:crypto'
import { signIdentity, verifyIdentity, type VerifyResult } from './identity-signature.ts'

export const INTERNAL_PREFIX = '/internal/v1'

/** No tenant slug or htpasswd login can take this tenant: slugs start with a letter or digit. */
export const EDGE_IDENTITY = { tenant: '-', user: 'gatehouse-edge' } as const

/** The key internal requests are signed with: its own, so the two kinds of signature never verify as each other. */
export function internalKey(identitySecret: string): string {
  return createHmac('sha256', identitySecret).update('gatehouse internal channel v1').digest('base64url')
}

/** Headers for one internal GET (`url`: path and query, as the API sees it). */
export function signInternalRequest(
  key: string,
  url: string,
  requestId: string,
  now = Date.now(),
): Record<string, string> {
  return signIdentity(key, { ...EDGE_IDENTITY, requestId, method: 'GET', url }, now)
}

/** Whether the edge signed this request for itself (the reserved identity, the internal key). */
export function verifyInternalRequest(
  key: string,
  request: Parameters<typeof verifyIdentity>[1],
  maxAgeSeconds: number,
  now = Date.now(),
): VerifyResult | { ok: false; reason: 'not-edge' } {
  const result = verifyIdentity(key, request, maxAgeSeconds, now)
  if (result.ok && (result.identity.tenant !== EDGE_IDENTITY.tenant || result.identity.user !== EDGE_IDENTITY.user)) {
    return { ok: false, reason: 'not-edge' }
  }
  return result
}
