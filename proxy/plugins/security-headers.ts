// Security headers on every response (@fastify/helmet), with a CSP that still lets the locally served
// GraphiQL and Swagger UI pages run (their scripts are same-origin; they use inline styles), and HSTS.
// @see https://github.com/fastify/fastify-helmet
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

export const HSTS_MAX_AGE_SECONDS = 15_552_000 // 180 days

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
