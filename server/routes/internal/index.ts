// /internal/v1: what the edge must learn about tenants (plans, hostnames), for the edge alone. Every request must
// carry the edge's own signature (common/internal-channel.ts); a tenant user's identity, however valid, is a 401.
// The edge never forwards this prefix. Hidden from the OpenAPI document.
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { internalKey, verifyInternalRequest } from '../../../common/internal-channel.ts'
import { PlanSchema } from '../../../common/plans.ts'
import { Errors } from '../../../common/problem.ts'
import { problemResponses } from '../../schemas/problem.ts'

export interface InternalRoutesOptions {
  identitySecret: string
  maxAgeSeconds: number
}

const REASONS: Record<string, string> = {
  missing: 'Internal routes answer the Gatehouse edge only; the request carries no signature',
  'not-edge': 'Internal routes answer the Gatehouse edge only, not a tenant identity',
}

const TenantFactsSchema = Type.Object(
  {
    slug: Type.String(),
    plan: Type.Union([PlanSchema, Type.Null()], { description: 'null: no such tenant' }),
  },
  { title: 'InternalTenantFacts' },
)

const DomainOwnerSchema = Type.Object(
  {
    hostname: Type.String(),
    tenant: Type.Union([Type.String(), Type.Null()], { description: "The owning tenant's slug; null: no tenant's" }),
  },
  { title: 'InternalDomainOwner' },
)

const Name = Type.String({ minLength: 1, maxLength: 1012 })

export default async function internalRoutes(fastify: FastifyInstance, options: InternalRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const key = internalKey(options.identitySecret)

  app.addHook('onRequest', async request => {
    const result = verifyInternalRequest(key, request, options.maxAgeSeconds)
    if (!result.ok) {
      request.log.warn({ reason: result.reason }, 'refused an internal request not signed by the edge')
      throw new Errors.Unauthenticated(REASONS[result.reason] ?? 'The internal signature is not valid')
    }
  })

  app.get(
    '/tenants/:slug',
    {
      schema: {
        hide: true,
        params: Type.Object({ slug: Name }),
        response: { 200: TenantFactsSchema, ...problemResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { slug } = request.params
      // Straight from the table, not the identity plugin's cache: the edge caches, and a change must show within
      // seconds.
      const tenant = await app.db.tenant.findFirst({ where: { slug }, select: { plan: true } })
      reply.header('cache-control', 'no-store')
      return { slug, plan: tenant?.plan ?? null }
    },
  )

  // Caddy's on-demand TLS `ask`, and the edge's check that a request on a tenant's domain is that tenant's.
  app.get(
    '/domains/:hostname',
    {
      schema: {
        hide: true,
        params: Type.Object({ hostname: Name }),
        response: { 200: DomainOwnerSchema, ...problemResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { hostname } = request.params
      const owner = await app.services.domains.owner(hostname)
      reply.header('cache-control', 'no-store')
      return { hostname, tenant: owner?.slug ?? null }
    },
  )
}
