// Who is calling: the tenant and user the edge proxy authenticated, taken only from headers the proxy
// signed with the shared secret. A client can send these headers too, but cannot sign them.
// Routes opt in with `app.addHook('onRequest', app.authenticate)` in their own context; the body is then
// checked against the signed Content-Digest as it is read (plugins/body-digest.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { verifyIdentity } from '../../common/identity-signature.ts'
import { Errors } from '../../common/problem.ts'
import { createTenantService, type TenantRecord } from '../services/tenants.ts'

export interface RequestIdentity {
  tenant: TenantRecord
  user: string
  /** The signed Content-Digest the body must match; null when the request has no body. */
  contentDigest: string | null
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: RequestIdentity | null
  }
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>
    /** The verified identity of a request that passed `authenticate`. */
    identityOf(request: FastifyRequest): RequestIdentity
  }
}

const REASONS = {
  missing: 'This API is reached through the Gatehouse proxy; the request carries no signed identity',
  malformed: 'The identity headers are malformed',
  stale: 'The identity signature has expired',
  'bad-signature': 'The identity signature is not valid',
  'unsigned-body': 'The request has a body but the identity signature covers none (no Content-Digest)',
} as const

export interface IdentityPluginOptions {
  secret: string
  maxAgeSeconds: number
}

async function identity(app: FastifyInstance, options: IdentityPluginOptions): Promise<void> {
  const tenants = createTenantService(app.db)
  app.decorateRequest('identity', null)

  app.decorate('authenticate', async function authenticate(request: FastifyRequest): Promise<void> {
    const result = verifyIdentity(options.secret, request, options.maxAgeSeconds)
    if (!result.ok) {
      request.log.warn({ reason: result.reason }, 'refused request without a valid identity signature')
      throw new Errors.Unauthenticated(REASONS[result.reason])
    }
    const tenant = await tenants.resolve(result.identity.tenant)
    if (tenant === null) throw new Errors.UnknownTenant(result.identity.tenant)
    request.identity = { tenant, user: result.identity.user, contentDigest: result.contentDigest ?? null }
  })

  app.decorate('identityOf', function identityOf(request: FastifyRequest): RequestIdentity {
    if (request.identity === null) throw new Error('identityOf() called on a route without the authenticate hook')
    return request.identity
  })
}

export default fp(identity, { name: 'identity', fastify: '5.x', dependencies: ['database'] })
