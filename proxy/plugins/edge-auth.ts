// Who may pass the edge: HTTP basic auth (@fastify/basic-auth) against the htpasswd file, `user@tenant`
// logins, bcrypt verification cached briefly, failed logins throttled per client address.
// Routes opt in with `app.addHook('onRequest', app.edgeAuthenticate)`.
// @see https://github.com/fastify/fastify-basic-auth
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import basicAuth from '@fastify/basic-auth'
import { createCredentialVerifier } from '../auth/credential-verifier.js'
import { createFailureLimiter } from '../auth/failure-limiter.js'
import { watchHtpasswd } from '../auth/htpasswd.js'
import type { ProxyConfig } from '../config.js'
import { EdgeErrors } from '../errors.js'

export interface Principal { tenant: string, user: string }

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyInstance {
    edgeAuthenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** Adds a check every request without valid credentials passes before its 401 (it may answer instead). */
    edgeOnUnauthenticated(check: UnauthenticatedCheck): void
  }
}

export type UnauthenticatedCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

async function edgeAuth (app: FastifyInstance, options: ProxyConfig['auth']): Promise<void> {
  const store = watchHtpasswd(options.htpasswdFile, ({ users, problems, error }) => {
    if (error !== undefined) app.log.warn({ file: options.htpasswdFile, error }, 'credentials file unreadable: every login fails until it is fixed')
    else app.log.info({ file: options.htpasswdFile, users }, 'credentials loaded')
    for (const problem of problems) app.log.warn({ file: options.htpasswdFile }, problem)
  })
  app.addHook('onClose', async () => store.close())
  const verifier = createCredentialVerifier(store, { cacheTtlMs: options.cacheTtlMs })
  const failures = createFailureLimiter({ limit: options.failureLimit, windowMs: options.failureWindowMs, ...(app.redis !== null ? { redis: app.redis } : {}) })
  const { authFailures } = app.edgeMetrics

  app.decorateRequest('principal', null)
  await app.register(basicAuth, {
    authenticate: { realm: 'Gatehouse' },
    async validate (login, password, request) {
      const entry = await verifier.verify(login, password)
      if (entry === undefined) {
        await failures.recordFailure(request.ip)
        // Label with the tenant only when it exists: attackers must not be able to grow the metric.
        const tenant = store.get(login)?.tenant ?? 'unknown'
        authFailures.inc({ tenant })
        request.log.info({ login: login.slice(0, 128), tenant }, 'login failed')
        throw new EdgeErrors.Unauthorized('Invalid credentials')
      }
      request.principal = { tenant: entry.tenant, user: entry.user }
    },
  })

  // Requests without valid credentials never reach the route's own hooks (the 401 comes first), so
  // whatever must also apply to them — the per-address anonymous budget — is called from here.
  const unauthenticatedChecks: UnauthenticatedCheck[] = []
  app.decorate('edgeOnUnauthenticated', (check: UnauthenticatedCheck) => { unauthenticatedChecks.push(check) })

  app.decorate('edgeAuthenticate', async function edgeAuthenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const state = await failures.check(request.ip)
    if (state.blocked) {
      reply.header('retry-after', String(state.retryAfterSeconds))
      app.edgeMetrics.authThrottled.inc()
      throw new EdgeErrors.TooManyLoginFailures()
    }
    try {
      await new Promise<void>((resolve, reject) => {
        app.basicAuth(request, reply, (error?: Error) => { if (error !== undefined) reject(error); else resolve() })
      })
    } catch (error) {
      for (const check of unauthenticatedChecks) await check(request, reply)
      throw error
    }
  })
}

export default fp(edgeAuth, { name: 'edge-auth', fastify: '5.x', dependencies: ['edge-metrics', 'redis'] })
