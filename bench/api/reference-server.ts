// The api section's reference: a minimal service answering the section's five requests as the API does (same
// routes, same JSON) with the same security work — the signed identity and body digest checked, the tenant
// resolved through a 10 s cache, every request's unit of work in one round trip under the same RLS policy — and
// nothing else: no GraphQL parser, no metrics, ETag or cache headers. Fastify with node-postgres alone
// (REFERENCE_DATA_LAYER=sql) or with Prisma (=prisma), run from source by the bench (bench/api/subjects.ts) with
// REFERENCE_* variables; never a way to run the API.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import createError from '@fastify/error'
import { Type } from 'typebox'
import { contentDigest, verifyIdentity } from '../../common/identity-signature.ts'
import { loadEnvConfig } from '../../common/env-config.ts'
import { loggerOptions } from '../../common/logger.ts'
import type { ReferenceProject } from './reference-data.ts'
import { prismaDataLayer } from './reference-prisma.ts'
import { sqlDataLayer } from './reference-sql.ts'
import { GRAPHQL_PAGE, GRAPHQL_QUERY } from './scenarios.ts'

const settings = loadEnvConfig(
  Type.Object({
    REFERENCE_PORT: Type.Integer({ minimum: 1, maximum: 65535 }),
    REFERENCE_DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://' }),
    REFERENCE_ISOLATION: Type.Enum(['rls', 'where-clause'], {
      description: 'rls: one transaction per request on the app role; where-clause: tenant_id = $1 on the superuser',
    }),
    REFERENCE_DATA_LAYER: Type.Enum(['sql', 'prisma'], {
      default: 'sql',
      description: 'sql: node-postgres and its own SQL; prisma: Prisma on the lane pool (rls only)',
    }),
    REFERENCE_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, description: "The API's DATABASE_POOL_MAX" }),
    REFERENCE_IDENTITY_SECRET: Type.String({ minLength: 32 }),
    REFERENCE_IDENTITY_MAX_AGE_SECONDS: Type.Integer({ minimum: 1, maximum: 600 }),
    REFERENCE_LOG_LEVEL: Type.Enum(['warn', 'info', 'debug']),
  }),
  process.env,
)
const isolation = settings.REFERENCE_ISOLATION
const TENANT_TTL_MS = 10_000 // as the API's tenant service (server/services/tenants.ts)

// The same JSON the API writes: projects as ISO timestamps, pages with the cursor of the next one.
const Project = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
})
const Uuid = Type.String({ format: 'uuid' })
const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false })
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' })
const Description = Type.Union([Type.String({ maxLength: 10_000 }), Type.Null()])
const Unauthenticated = createError('REF_UNAUTHENTICATED', 'No valid identity signature: %s', 401)
const UnknownTenant = createError('REF_UNKNOWN_TENANT', 'Unknown tenant', 403)
const BodyMismatch = createError(
  'REF_BODY_DIGEST_MISMATCH',
  'The body is not the one the identity signature covers',
  400,
)
const NotFound = createError('REF_NOT_FOUND', 'Project not found', 404)
const UnknownQuery = createError(
  'REF_UNKNOWN_QUERY',
  'The reference answers the benchmark query only: it parses no GraphQL',
  400,
)

const toProject = (row: ReferenceProject) => ({
  id: row.id,
  name: row.name,
  description: row.description,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})
// The API's cursor (server/services/keyset-page.ts): the last row's sort value and id.
const cursorOf = (row: { id: string; createdAt: Date }): string =>
  Buffer.from(JSON.stringify({ s: 'createdAt', v: row.createdAt.toISOString(), id: row.id })).toString('base64url')

const tenants = new Map<string, { id: string | null; expires: number }>()
async function tenantIdOf(slug: string): Promise<string | null> {
  const now = Date.now()
  const hit = tenants.get(slug)
  if (hit !== undefined && hit.expires > now) return hit.id
  const id = await data.tenantIdOf(slug)
  tenants.set(slug, { id, expires: now + TENANT_TTL_MS })
  return id
}

/** Who asks, per request: the tenant's id and the Content-Digest the body must have. */
interface Caller {
  tenantId: string
  contentDigest: string | undefined
}
const callers = new WeakMap<FastifyRequest, Caller>()
const callerOf = (request: FastifyRequest): Caller => callers.get(request)!

const app = Fastify({ logger: loggerOptions('api-reference', settings.REFERENCE_LOG_LEVEL) })
if (settings.REFERENCE_DATA_LAYER === 'prisma' && isolation !== 'rls') {
  throw new Error('REFERENCE_DATA_LAYER=prisma runs under RLS only (REFERENCE_ISOLATION=rls)')
}
const data =
  settings.REFERENCE_DATA_LAYER === 'prisma'
    ? prismaDataLayer({ url: settings.REFERENCE_DATABASE_URL, poolMax: settings.REFERENCE_POOL_MAX })
    : sqlDataLayer({ url: settings.REFERENCE_DATABASE_URL, poolMax: settings.REFERENCE_POOL_MAX, isolation }, error =>
        app.log.warn({ err: error }, 'idle database connection lost'),
      )

// The body is hashed and compared with the signed digest before it is parsed, as the API does.
const parseJson = app.getDefaultJsonParser('error', 'error')
app.removeContentTypeParser('application/json')
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
  if (contentDigest(body as Buffer) !== callers.get(request)?.contentDigest) return done(new BodyMismatch(), undefined)
  parseJson(request, (body as Buffer).toString('utf8'), done)
})

app.get('/health', async () => ({ status: 'ok' }))

await app.register(async function authenticated(api) {
  api.addHook('onRequest', async (request: FastifyRequest) => {
    const verified = verifyIdentity(
      settings.REFERENCE_IDENTITY_SECRET,
      request,
      settings.REFERENCE_IDENTITY_MAX_AGE_SECONDS,
    )
    if (!verified.ok) throw new Unauthenticated(verified.reason)
    const tenantId = await tenantIdOf(verified.identity.tenant)
    if (tenantId === null) throw new UnknownTenant()
    callers.set(request, { tenantId, contentDigest: verified.contentDigest })
  })
  const tenantOf = (request: FastifyRequest): string => callerOf(request).tenantId

  api.get(
    '/api/v1/projects',
    {
      schema: {
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ data: Type.Array(Project), next: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async request => {
      const { limit } = request.query as { limit: number }
      const rows = await data.listProjects(tenantOf(request), limit)
      const page = rows.slice(0, limit)
      return { data: page.map(toProject), next: rows.length > limit ? cursorOf(page.at(-1)!) : null }
    },
  )

  api.get('/api/v1/projects/:id', { schema: { params: IdParams, response: { 200: Project } } }, async request => {
    const { id } = request.params as { id: string }
    const row = await data.getProject(tenantOf(request), id)
    if (row === undefined) throw new NotFound()
    return toProject(row)
  })

  api.post(
    '/api/v1/projects',
    {
      schema: {
        body: Type.Object({ name: Name, description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 201: Project },
      },
    },
    async (request, reply: FastifyReply) => {
      const body = request.body as { name: string; description?: string | null }
      const row = await data.createProject(tenantOf(request), {
        name: body.name.trim(),
        description: body.description ?? null,
      })
      return reply.code(201).header('location', `/api/v1/projects/${row.id}`).send(toProject(row))
    },
  )

  api.patch(
    '/api/v1/projects/:id',
    {
      schema: {
        params: IdParams,
        body: Type.Object(
          { name: Type.Optional(Name), description: Type.Optional(Description) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Project },
      },
    },
    async request => {
      const { id } = request.params as { id: string }
      const body = request.body as { name?: string; description?: string | null }
      const change = {
        ...(body.name !== undefined ? { name: body.name.trim() } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
      }
      const row = await data.updateProject(tenantOf(request), id, change)
      if (row === undefined) throw new NotFound()
      return toProject(row)
    },
  )

  // The benchmark's one query, answered with the rows and JSON the API gives it; any other is refused.
  const Task = Type.Object({ title: Type.String(), status: Type.String() })
  const Node = Type.Object({ name: Type.String(), tasks: Type.Array(Task) })
  api.post(
    '/graphql',
    {
      schema: {
        body: Type.Object({
          query: Type.String(),
          operationName: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          variables: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
        }),
        response: {
          200: Type.Object({
            data: Type.Object({
              projects: Type.Object({ nodes: Type.Array(Node), next: Type.Union([Type.String(), Type.Null()]) }),
            }),
          }),
        },
      },
    },
    async request => {
      if ((request.body as { query: string }).query !== GRAPHQL_QUERY) throw new UnknownQuery()
      const projects = await data.projectsWithTasks(tenantOf(request), GRAPHQL_PAGE.projects, GRAPHQL_PAGE.tasks)
      const page = projects.slice(0, GRAPHQL_PAGE.projects)
      return {
        data: {
          projects: { nodes: page, next: projects.length > GRAPHQL_PAGE.projects ? cursorOf(page.at(-1)!) : null },
        },
      }
    },
  )
})

await app.listen({ host: '127.0.0.1', port: settings.REFERENCE_PORT })
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => data.close())
    .finally(() => process.exit(0))
})
