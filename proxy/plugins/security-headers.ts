// Security headers on every response (@fastify/helmet's set), with a CSP that still lets the locally served
// GraphiQL and Swagger UI pages run (their scripts are same-origin; they use inline styles), and HSTS.
// @see https://github.com/fastify/fastify-helmet
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import { STATUS_CODES } from 'node:http'
import { PROBLEMS, problemBody } from '../../common/problem.ts'

export const HSTS_MAX_AGE_SECONDS = 15_552_000 // 180 days

/**
 * The headers helmet sets here. They are the edge's policy: an upstream's own copy (Swagger UI sends a
 * stricter CSP of its own) must not replace them, and Node lets headers written with the response win
 * over those set earlier, so forwarding and the cache drop these from upstream responses.
 */
export const EDGE_SECURITY_HEADERS = new Set([
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
])

/**
 * What Node's HTTP/1.1 parser refuses (malformed or oversized requests) never reaches Fastify's hooks, so
 * helmet cannot add its headers: this writes that answer itself, as problem+json under the same core policy.
 */
export function rawClientErrorResponse(error: Error & { code?: string }): string {
  const [problem, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [PROBLEMS.HeadersTooLarge, 'Request headers may take 16384 bytes at most']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' // the header or request deadline passed (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS)
        ? [PROBLEMS.RequestTimeout]
        : error.code === 'ERR_SSL_HTTP_REQUEST' // plain HTTP sent to the HTTPS port
          ? [PROBLEMS.HttpsRequired]
          : [PROBLEMS.MalformedRequest]
  const body = JSON.stringify(problemBody(problem, detail))
  return [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Strict-Transport-Security: max-age=${HSTS_MAX_AGE_SECONDS}`,
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options: nosniff',
    'X-Frame-Options: DENY',
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n')
}

export const HELMET_OPTIONS: FastifyHelmetOptions = {
  global: true,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      frameAncestors: ["'none'"],
      formAction: ["'self'"],
    },
  },
  // The same answer as frame-ancestors 'none' for browsers that only know X-Frame-Options.
  frameguard: { action: 'deny' },
  strictTransportSecurity: { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: false },
  crossOriginEmbedderPolicy: false,
}

/**
 * The headers @fastify/helmet sends with our options, asked of it once. The plugin rebuilds helmet's
 * middleware on every request (it allows per-route options, which the edge never uses): parsing the CSP and
 * making a dozen closures was about 5 % of the CPU a cache hit costs (npm run bench, BENCH_PROFILE=1).
 */
export async function helmetHeaders(): Promise<Array<[string, string]>> {
  const probe = Fastify()
  await probe.register(helmet, HELMET_OPTIONS)
  probe.get('/', async () => 'ok')
  const response = await probe.inject('/')
  await probe.close()
  const headers = Object.entries(response.headers)
    .filter(([name]) => !['content-type', 'content-length', 'date', 'connection', 'keep-alive'].includes(name))
    .map(([name, value]) => [name, String(value)] as [string, string])
  const names = headers.map(([name]) => name).sort()
  // EDGE_SECURITY_HEADERS decides what forwarding and the cache drop from upstream answers: it must be exactly this
  // set.
  if (names.join() !== [...EDGE_SECURITY_HEADERS].sort().join()) {
    throw new Error(
      `helmet sends ${names.join(', ')}; EDGE_SECURITY_HEADERS lists ${[...EDGE_SECURITY_HEADERS].join(', ')}`,
    )
  }
  return headers
}

async function securityHeaders(app: FastifyInstance): Promise<void> {
  const headers = Object.freeze(Object.fromEntries(await helmetHeaders()))
  // Fastify's own headers, not the raw response's: one raw setHeader makes Node take its slow path for every
  // header of the answer (about 8 % of a cache hit's CPU). Nothing at the edge lets an upstream's copy replace
  // these (EDGE_SECURITY_HEADERS), and Fastify keeps them on its error answers.
  app.addHook('onRequest', function edgeSecurityHeaders(_request, reply, done) {
    reply.headers(headers)
    done()
  })
}

export default fp(securityHeaders, { name: 'security-headers', fastify: '5.x' })
