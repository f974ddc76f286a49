// Security headers on every response (@fastify/helmet), with a CSP that still lets the locally served
// GraphiQL and Swagger UI pages run (their scripts are same-origin; they use inline styles), and HSTS.
// @see https://github.com/fastify/fastify-helmet
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

export const HSTS_MAX_AGE_SECONDS = 15_552_000 // 180 days

/**
 * The headers helmet sets here. They are the edge's policy: an upstream's own copy (Swagger UI sends a
 * stricter CSP of its own) must not replace them, and Node lets headers written with the response win
 * over those set earlier, so forwarding and the cache drop these from upstream responses.
 */
export const EDGE_SECURITY_HEADERS = new Set([
  'content-security-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster',
  'referrer-policy', 'strict-transport-security', 'x-content-type-options', 'x-dns-prefetch-control',
  'x-download-options', 'x-frame-options', 'x-permitted-cross-domain-policies', 'x-xss-protection',
])

async function securityHeaders (app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
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
  })
}

export default fp(securityHeaders, { name: 'security-headers', fastify: '5.x' })
