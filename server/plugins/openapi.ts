// OpenAPI document generated from the route schemas, with Swagger UI at /docs (assets served locally).
// @see https://github.com/fastify/fastify-swagger
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ProblemSchema } from '../schemas/problem.ts'

/** The name of the edge's HTTP basic login in the document (Swagger UI's Authorize dialog shows it). */
export const SECURITY_SCHEME = 'edgeLogin'

/** A copy of a schema tree in which every `enum` without a `type` has the one its values share. */
export function withEnumTypes(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withEnumTypes)
  if (node === null || typeof node !== 'object') return node
  const copy = Object.fromEntries(
    Object.entries(node).map(([key, value]) => [
      key,
      key === 'enum' && Array.isArray(value) ? value : withEnumTypes(value),
    ]),
  )
  const values = copy.enum
  if (!Array.isArray(values) || values.length === 0 || 'type' in copy) return copy
  const types = new Set(values.map(value => (Number.isInteger(value) ? 'integer' : typeof value)))
  const [type] = types
  return types.size === 1 && ['string', 'integer', 'number', 'boolean'].includes(type!) ? { type, ...copy } : copy
}

async function openapi(app: FastifyInstance): Promise<void> {
  app.addSchema(ProblemSchema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse API',
        version: '1.0.0',
        description:
          'Multi-tenant projects and tasks. Reached through the Gatehouse edge proxy, which authenticates ' +
          'the caller (HTTP basic, `user@tenant`) and vouches for them with signed headers. Errors are RFC 9457 problem details.',
      },
      tags: [
        { name: 'projects', description: 'Projects of the calling tenant' },
        { name: 'tasks', description: 'Tasks within projects' },
        { name: 'domains', description: "The calling tenant's own hostnames" },
        { name: 'operations', description: 'Health and readiness' },
      ],
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'basic',
            description: 'Your edge login: `user@tenant` as the username (e.g. `alice@acme`) and its password',
          },
        },
      },
    },
    // Collection routes are registered as '/' under their prefix; the documented URL has no trailing slash.
    // Every /api/v1 route needs a login at the edge; health and readiness do not.
    transform: ({ schema, url }) => ({
      schema: url.startsWith('/api/') ? { ...schema, security: [{ [SECURITY_SCHEME]: [] }] } : schema,
      url: url.length > 1 ? url.replace(/\/$/, '') : url,
    }),
    // TypeBox writes an enum as `{ enum: [...] }` alone, which is valid JSON Schema but shows as type "any"
    // in Swagger UI (and some generators skip it): the type its values share is added.
    transformObject: document =>
      withEnumTypes('openapiObject' in document ? document.openapiObject : document.swaggerObject) as never,
    // Shared schemas keep their $id as the component name (Problem, Project, Task) instead of def-0, def-1, …
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x' })
