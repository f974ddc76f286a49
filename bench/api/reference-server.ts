// The api section's reference: a minimal service answering the section's five requests as the API does (same
// routes, same JSON) with the same security work — the signed identity and body digest checked, the tenant
// resolved through a 10 s cache, every request's SQL in one round trip under the same RLS policy — and nothing
// else: no ORM, no GraphQL parser, no metrics, ETag or cache headers. Fastify + pg, run from source by the bench
// (bench/api/subjects.ts) with REFERENCE_* variables; never a way to run the API.
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import createError from '@fastify/error'
import pg from 'pg'
import { Type } from 'typebox'
import { contentDigest, verifyIdentity } from '../../common/identity-signature.ts'
import { loadEnvConfig } from '../../common/env-config.ts'
import { loggerOptions } from '../../common/logger.ts'
import { runQuery, sql, type ProjectRow, type ProjectTaskRow } from './reference-sql.ts'
import { GRAPHQL_PAGE, GRAPHQL_QUERY } from './scenarios.ts'

const settings = loadEnvConfig(
  Type.Object({
    REFERENCE_PORT: Type.Integer({ minimum: 1, maximum: 65535 }),
    REFERENCE_DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://' }),
    REFERENCE_ISOLATION: Type.Enum(['rls', 'where-clause'], {
      description: 'rls: one transaction per request on the app role; where-clause: tenant_id = $1 on the superuser',
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

const toProject = (row: ProjectRow) => ({
  id: row.id,
  name: row.name,
  description: row.description,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})
// The API's cursor (server/services/keyset-page.ts): the last row's sort value and id.
const cursorOf = (row: { id: string; created_at: Date }): string =>
  Buffer.from(JSON.stringify({ s: 'createdAt', v: row.created_at.toISOString(), id: row.id })).toString('base64url')

/** A uuid v7, as the API's Prisma schema makes them: time-ordered, so new rows land at the index's end. */
function uuidv7(): string {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(Date.now(), 0, 6)
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const tenants = new Map<string, { id: string | null; expires: number }>()
async function tenantIdOf(slug: string): Promise<string | null> {
  const now = Date.now()
  const hit = tenants.get(slug)
  if (hit !== undefined && hit.expires > now) return hit.id
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [slug])
  tenants.set(slug, { id: rows[0]?.id ?? null, expires: now + TENANT_TTL_MS })
  return rows[0]?.id ?? null
}

/** Who asks, per request: the tenant's id and the Content-Digest the body must have. */
interface Caller {
  tenantId: string
  contentDigest: string | undefined
}
const callers = new WeakMap<FastifyRequest, Caller>()
const callerOf = (request: FastifyRequest): Caller => callers.get(request)!

const app = Fastify({ logger: loggerOptions('api-reference', settings.REFERENCE_LOG_LEVEL) })
const pool = new pg.Pool({
  connectionString: settings.REFERENCE_DATABASE_URL,
  max: settings.REFERENCE_POOL_MAX,
  statement_timeout: 10_000,
  application_name: 'gatehouse-bench-reference',
})
// The bench drops the database WITH (FORCE) at the end: idle connections then end, which is no crash.
pool.on('error', error => app.log.warn({ err: error }, 'idle database connection lost'))

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
  const run = <Row extends pg.QueryResultRow>(
    request: FastifyRequest,
    query: (tenantId: string) => Parameters<typeof runQuery>[3],
  ): Promise<Row[]> => {
    const { tenantId } = callerOf(request)
    return runQuery<Row>(pool, isolation, tenantId, query(tenantId))
  }

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
      const rows = await run<ProjectRow>(request, tenantId => sql.listProjects(isolation, tenantId, limit))
      const page = rows.slice(0, limit)
      return { data: page.map(toProject), next: rows.length > limit ? cursorOf(page.at(-1)!) : null }
    },
  )

  api.get('/api/v1/projects/:id', { schema: { params: IdParams, response: { 200: Project } } }, async request => {
    const { id } = request.params as { id: string }
    const [row] = await run<ProjectRow>(request, tenantId => sql.getProject(isolation, tenantId, id))
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
      const project = { id: uuidv7(), name: body.name.trim(), description: body.description ?? null }
      const [row] = await run<ProjectRow>(request, tenantId => sql.createProject(isolation, tenantId, project))
      return reply.code(201).header('location', `/api/v1/projects/${row!.id}`).send(toProject(row!))
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
      const [row] = await run<ProjectRow>(request, tenantId => sql.updateProject(isolation, tenantId, id, change))
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
      const rows = await run<ProjectTaskRow>(request, tenantId =>
        sql.projectsWithTasks(isolation, tenantId, GRAPHQL_PAGE.projects, GRAPHQL_PAGE.tasks),
      )
      const projects: Array<{
        id: string
        created_at: Date
        name: string
        tasks: Array<{ title: string; status: string }>
      }> = []
      for (const row of rows) {
        if (projects.at(-1)?.id !== row.id) {
          projects.push({ id: row.id, created_at: row.created_at, name: row.name, tasks: [] })
        }
        if (row.title !== null) projects.at(-1)!.tasks.push({ title: row.title, status: row.status! })
      }
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
    .then(() => pool.end())
    .finally(() => process.exit(0))
})
