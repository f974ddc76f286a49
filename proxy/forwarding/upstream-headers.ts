// The header policy of the hop between the edge and the API, both ways. Upstream: the edge decides who the
// caller is, so whatever identity, credentials or forwarding headers the client sent are dropped and the signed
// identity added. Downstream: the edge's own security policy stays in force, and what the API tells the edge
// alone (x-gatehouse-*) stays at the edge.
import type { FastifyRequest } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import { signIdentity } from '../../common/identity-signature.ts'
import { EDGE_SECURITY_HEADERS } from '../plugins/security-headers.ts'

// Hop-by-hop headers (RFC 9110 §7.6.1), and HTTP/2's own, never passed across the hop either way.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
])

// Never forwarded: credentials the edge consumed, identity only the edge may assert, forwarding headers a
// client could forge (the edge sets its own), framing the edge recomputes for the body it buffered, and
// `expect` (the edge already has the whole body).
const STRIPPED =
  /^(authorization|proxy-authorization|x-gatehouse-.*|x-forwarded-.*|forwarded|x-real-ip|x-request-id|traceparent|tracestate|content-digest|host|content-length|expect)$/i

/** Headers that the sender's Connection header names as hop-by-hop for this message. */
function connectionListed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection
  if (value === undefined) return undefined
  return new Set(
    value
      .split(',')
      .map(name => name.trim().toLowerCase())
      .filter(Boolean),
  )
}

export function downstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = connectionListed(headers)
  const kept: IncomingHttpHeaders = {}
  for (const name in headers) {
    if (
      HOP_BY_HOP.has(name) ||
      EDGE_SECURITY_HEADERS.has(name) ||
      name.startsWith('x-gatehouse-') ||
      listed?.has(name) === true
    ) {
      continue
    }
    kept[name] = headers[name]
  }
  return kept
}

export function upstreamHeaders(
  request: FastifyRequest,
  secret: string,
  body: Buffer | undefined,
): IncomingHttpHeaders {
  const principal = request.principal
  if (principal === null) throw new Error('forwarding a request that did not pass edge authentication')
  const headers = request.headers
  const listed = connectionListed(headers)
  const kept: IncomingHttpHeaders = {}
  for (const name in headers) {
    if (
      name.charCodeAt(0) === 58 /* ':' — an HTTP/2 pseudo-header */ ||
      HOP_BY_HOP.has(name) ||
      STRIPPED.test(name) ||
      listed?.has(name) === true
    ) {
      continue
    }
    kept[name] = headers[name]
  }
  kept['x-forwarded-for'] = request.ip
  kept['x-forwarded-proto'] = 'https'
  kept['x-forwarded-host'] = request.host
  kept.traceparent = request.traceparent
  if (typeof headers.tracestate === 'string') kept.tracestate = headers.tracestate
  if (body !== undefined) kept['content-length'] = String(body.length)
  const signed = signIdentity(secret, {
    tenant: principal.tenant,
    user: principal.user,
    requestId: request.id,
    method: request.method,
    url: request.url,
    ...(body !== undefined && body.length > 0 ? { body } : {}),
  })
  for (const name in signed) kept[name] = signed[name]
  return kept
}
