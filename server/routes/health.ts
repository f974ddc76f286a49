// Liveness and readiness for orchestrators and the proxy. Neither needs an identity.
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { problemResponses } from '../schemas/problem.ts'
import { Errors, PROBLEMS, sendProblem } from '../../common/problem.ts'

const Status = Type.Object({ status: Type.Literal('ok'), database: Type.Optional(Type.String()) })

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      logLevel: 'warn',
      schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: Status } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      logLevel: 'warn',
      schema: {
        tags: ['operations'],
        summary:
          'Readiness: the database answers (503 with Retry-After when it does not) and the instance is not shutting down (503)',
        response: { 200: Status, ...problemResponses(503) },
      },
    },
    async (request, reply) => {
      // Balancers (the edge checks this) take a draining instance out of rotation while it still serves.
      if (app.lifecycle.shuttingDown) return sendProblem(request, reply, PROBLEMS.ShuttingDown)
      try {
        await app.database.ping()
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check: database unreachable')
        throw new Errors.DatabaseUnavailable()
      }
      return { status: 'ok' as const, database: app.database.kind }
    },
  )
}
