// /api/v1/domains: the calling tenant's own hostnames (requests on them belong to the tenant at the edge).
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AddDomainBody, DomainListSchema, DomainSchema, HostnameParams } from '../../../schemas/domain.ts'
import { problemResponses } from '../../../schemas/problem.ts'

const tags = ['domains']

export default async function domainRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { domains } = app.services

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: "List the tenant's own hostnames",
        response: { 200: DomainListSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async request => ({ data: await domains.list(app.identityOf(request).tenant.id) }),
  )

  app.post(
    '/',
    {
      schema: {
        tags,
        summary: 'Claim a hostname for the tenant',
        description:
          'Lowercase ASCII or Unicode (stored as punycode); no IP addresses, wildcards or local-only names. ' +
          'Point its DNS at the edge; requests on it then belong to this tenant.',
        body: AddDomainBody,
        response: { 201: DomainSchema, ...problemResponses(400, 401, 403, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const domain = await domains.add(app.identityOf(request).tenant.id, request.body.hostname)
      return reply.code(201).header('location', `/api/v1/domains/${domain.hostname}`).send(domain)
    },
  )

  // Where a claim's 201 Location points.
  app.get(
    '/:hostname',
    {
      schema: {
        tags,
        summary: "One of the tenant's hostnames",
        params: HostnameParams,
        response: { 200: DomainSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async request => domains.get(app.identityOf(request).tenant.id, request.params.hostname),
  )

  app.delete(
    '/:hostname',
    {
      schema: {
        tags,
        summary: 'Give up a hostname',
        params: HostnameParams,
        response: { 204: Type.Null(), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await domains.remove(app.identityOf(request).tenant.id, request.params.hostname)
      return reply.code(204).send(null)
    },
  )
}
