// Who may pass the edge: HTTP basic auth (@fastify/basic-auth) against the htpasswd file, `user@tenant`
// logins, bcrypt verification cached briefly, credential checks throttled per client address and per login.
// Routes opt in with `app.addHook('onRequest', app.edgeAuthenticate)`.
// @see https://github.com/fastify/fastify-basic-auth
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import basicAuth from '@fastify/basic-auth'
import { createCredentialVerifier } from '../auth/credential-verifier.ts'
import { createFailureLimiter, isRefusal, type Refusal } from '../auth/failure-limiter.ts'
import { watchHtpasswd, type HtpasswdEntry } from '../auth/htpasswd.ts'
import type { ProxyConfig } from '../config.ts'
import { Errors } from '../../common/problem.ts'

export interface Principal {
  tenant: string
  user: string
}

/** What @fastify/basic-auth throws for a missing Authorization header and for one that is not Basic credentials. */
const BASIC_AUTH_REFUSED = 'FST_BASIC_AUTH_MISSING_OR_BAD_AUTHORIZATION_HEADER'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    edgeAuthenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** Adds a check every request without valid credentials passes before its 401 (it may answer instead). */
    edgeOnUnauthenticated(check: UnauthenticatedCheck): void
  }
}

export type UnauthenticatedCheck = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

async function edgeAuth(app: FastifyInstance, options: ProxyConfig['auth']): Promise<void> {
  const store = watchHtpasswd(
    options.htpasswdFile,
    ({ users, problems, error }) => {
      if (error !== undefined) {
        app.log.warn(
          { file: options.htpasswdFile, error },
          'credentials file unreadable: every login fails until it is fixed',
        )
      } else app.log.info({ file: options.htpasswdFile, users }, 'credentials loaded')
      for (const problem of problems) app.log.warn({ file: options.htpasswdFile }, problem)
    },
    { intervalMs: options.htpasswdPollMs },
  )
  app.addHook('onClose', async () => store.close())
  const verifier = createCredentialVerifier(store, { cacheTtlMs: options.cacheTtlMs })
  const failures = createFailureLimiter({
    addressLimit: options.failureLimit,
    loginLimit: options.loginFailureLimit,
    windowMs: options.failureWindowMs,
    ...(app.redis !== null ? { redis: app.redis } : {}),
  })
  const { authFailures, authThrottled } = app.edgeMetrics
  for (const throttle of ['address', 'login'] as const) authThrottled.inc({ throttle }, 0)

  // One check per address and credentials at a time: a client's parallel requests whose cache entry just expired
  // share one reservation (and the verifier's one bcrypt run); reserving each would answer most of them 429.
  const attempts = new Map<string, Promise<HtpasswdEntry | Refusal | undefined>>()
  const attempt = (address: string, login: string, password: string): Promise<HtpasswdEntry | Refusal | undefined> => {
    const id = `${address} ${verifier.credentialKey(login, password)}`
    let pending = attempts.get(id)
    if (pending === undefined) {
      pending = (async () => {
        const reservation = await failures.reserve(address, login)
        if (isRefusal(reservation)) return reservation
        const entry = await verifier.verify(login, password)
        // Right credentials were no failure; for wrong ones the reservation stays as the recorded failure.
        if (entry !== undefined) await reservation.release()
        return entry
      })().finally(() => attempts.delete(id))
      attempts.set(id, pending)
    }
    return pending
  }

  app.decorateRequest('principal', null)
  await app.register(basicAuth, {
    authenticate: { realm: 'Gatehouse' },
    async validate(login, password, request, reply) {
      // Credentials the cache knows to be right skip the login's throttle and reserve nothing (no bcrypt runs):
      // spraying wrong passwords at a login from many addresses must not lock its active user out. The address's
      // block still applies (one read): a blocked address would otherwise keep guessing, and see 200 for the
      // right password whenever its user had logged in lately.
      const known = verifier.cachedEntry(login, password)
      const outcome =
        known !== undefined
          ? ((await failures.addressRefusal(request.ip)) ?? known)
          : await attempt(request.ip, login, password)
      if (isRefusal(outcome)) {
        reply.header('retry-after', String(outcome.retryAfterSeconds))
        authThrottled.inc({ throttle: outcome.throttle })
        throw new Errors.TooManyLoginFailures()
      }
      if (outcome === undefined) {
        // Label with the tenant only when it exists: attackers must not be able to grow the metric.
        const tenant = store.get(login)?.tenant ?? 'unknown'
        authFailures.inc({ tenant })
        request.log.info({ login: login.slice(0, 128), tenant }, 'login failed')
        throw new Errors.Unauthorized('Invalid credentials')
      }
      request.principal = { tenant: outcome.tenant, user: outcome.user }
    },
  })

  // Requests without valid credentials never reach the route's own hooks (the 401 comes first), so
  // whatever must also apply to them — the per-address anonymous budget — is called from here.
  const unauthenticatedChecks: UnauthenticatedCheck[] = []
  app.decorate('edgeOnUnauthenticated', (check: UnauthenticatedCheck) => {
    unauthenticatedChecks.push(check)
  })

  app.decorate(
    'edgeAuthenticate',
    async function edgeAuthenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      try {
        await new Promise<void>((resolve, reject) => {
          app.basicAuth(request, reply, (error?: Error) => {
            if (error !== undefined) reject(error)
            else resolve()
          })
        })
      } catch (error) {
        // A throttled login is answered as such; it is no anonymous request.
        if (error instanceof Errors.TooManyLoginFailures) throw error
        for (const check of unauthenticatedChecks) await check(request, reply)
        // The plugin's one code covers two different mistakes; its WWW-Authenticate challenge is already set.
        if ((error as { code?: string }).code !== BASIC_AUTH_REFUSED) throw error
        throw request.headers.authorization === undefined
          ? new Errors.CredentialsMissing()
          : new Errors.CredentialsMalformed()
      }
    },
  )
}

export default fp(edgeAuth, { name: 'edge-auth', fastify: '5.x', dependencies: ['edge-metrics', 'redis'] })
