// GraphQL at /graphql (mercurius), in its own context so the identity hook covers it alone.
// Not wrapped in fastify-plugin on purpose: its hooks must not leak to the rest of the app.
// @see https://mercurius.dev
import type { FastifyInstance } from 'fastify'
import mercurius from 'mercurius'
import type { GraphQLError } from 'graphql'
import { classifyDatabaseError } from '../db/database-errors.js'
import { loaders } from '../graphql/loaders.js'
import { assertQueryCost } from '../graphql/query-cost.js'
import { resolvers } from '../graphql/resolvers.js'
import { schema } from '../graphql/schema.js'
import graphiql from './graphiql.js'

export interface GraphqlOptions { maxDepth: number, maxCost: number, graphiql: boolean }

interface ErrorWithStatus { statusCode?: number, code?: string }

/** Client mistakes keep their message and gain a code; server faults are masked (and logged). */
function publicError (error: GraphQLError, log: FastifyInstance['log']): Record<string, unknown> {
  const original = error.originalError as (Error & ErrorWithStatus) | undefined
  let status = original?.statusCode ?? (original === undefined ? 400 : 500)
  let code = original?.code ?? (error.extensions?.code as string | undefined) ?? 'GRAPHQL_VALIDATION_FAILED'
  let message = error.message
  if (status >= 500 && original !== undefined) {
    const failure = classifyDatabaseError(original)
    if (failure.kind === 'unavailable') {
      status = 503
      code = 'GH_DATABASE_UNAVAILABLE'
      message = 'The database is unavailable; retry shortly'
    } else {
      log.error({ err: original, path: error.path }, 'GraphQL resolver failed')
      code = 'GH_INTERNAL'
      message = 'An internal error occurred'
    }
  }
  return { message, locations: error.locations, path: error.path, extensions: { code, status } }
}

export default async function graphqlPlugin (app: FastifyInstance, options: GraphqlOptions): Promise<void> {
  if (options.graphiql) await app.register(graphiql)

  await app.register(async function authenticatedGraphql (scoped) {
    scoped.addHook('onRequest', scoped.authenticate)
    await scoped.register(mercurius, {
      schema,
      resolvers,
      loaders,
      graphiql: false,
      path: '/graphql',
      queryDepth: options.maxDepth,
      allowBatchedQueries: false,
      context: (request) => ({ identity: scoped.identityOf(request) }),
      errorFormatter: (execution, context) => {
        const log = context.reply?.log ?? app.log
        const errors = execution.errors.flatMap((error) => {
          const nested = (error.originalError as { errors?: GraphQLError[] } | undefined)?.errors
          return Array.isArray(nested) ? nested : [error]
        }).map((error) => publicError(error, log))
        // GraphQL over HTTP: 200 whenever there is data; otherwise the status of a sole client error.
        const onlyStatus = errors.length === 1 ? (errors[0]?.extensions as { status: number }).status : 400
        const statusCode = execution.data != null ? 200 : ((execution as { statusCode?: number }).statusCode ?? onlyStatus)
        return { statusCode, response: { data: execution.data ?? null, errors } as never }
      },
    })
    scoped.graphql.addHook('preExecution', async (schema, document, context, variables) => {
      const operationName = (context.reply.request.body as { operationName?: string } | undefined)?.operationName
      assertQueryCost(schema, document, variables, operationName ?? undefined, options.maxCost)
    })
  })
}
