// Liveness and readiness for orchestrators and the proxy. Neither needs an identity.
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { problemResponses } from '../schemas/problem.js'
import { Errors } from '../errors.js'

const Status = Type.Object({ status: Type.Literal('ok'), database: Type.Optional(Type.String()) })

export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: Status } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/ready', {
    logLevel: 'warn',
    schema: {
      tags: ['operations'],
      summary: 'Readiness: the database answers (503 with Retry-After when it does not)',
      response: { 200: Status, ...problemResponses(503) },
    },
  }, async (request) => {
    try {
      await app.database.ping()
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check: database unreachable')
      throw new Errors.DatabaseUnavailable()
    }
    return { status: 'ok' as const, database: app.database.kind }
  })
}
