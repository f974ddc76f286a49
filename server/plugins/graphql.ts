// GraphQL at /graphql (mercurius), in its own context so the identity hook covers it alone.
// Not wrapped in fastify-plugin on purpose: its hooks must not leak to the rest of the app.
// @see https://mercurius.dev
import type { FastifyInstance } from 'fastify'
import mercurius from 'mercurius'
import { GraphQLError, Kind, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql'
import { Errors, PROBLEMS } from '../../common/problem.ts'
import { classifyDatabaseError } from '../db/database-errors.ts'
import { loaders } from '../graphql/loaders.ts'
import { assertIntrospectionCost, assertQueryCost, assertQueryDepth } from '../graphql/query-cost.ts'
import { READ_ONLY_RESPONSE_HEADER } from '../../common/edge-protocol.ts'
import { resolvers } from '../graphql/resolvers.ts'
import { schema } from '../graphql/schema.ts'
import { assertSingleMutation, selectedOperation } from '../graphql/single-mutation.ts'
import graphiql from './graphiql.ts'
import { unsupportedMediaTypeDetail } from './problem-details.ts'

export interface GraphqlOptions {
  maxDepth: number
  maxCost: number
  graphiql: boolean
}

interface ErrorWithStatus {
  statusCode?: number
  code?: string
}

/** Retry-After on every 503, REST or GraphQL: long enough for a restarted database or a failover. */
const RETRY_AFTER_SECONDS = String(PROBLEMS.DatabaseUnavailable.retryAfterSeconds)

/** The bodies mercurius reads at /graphql. */
const GRAPHQL_MEDIA_TYPES = ['application/json', 'application/graphql']
type Log = FastifyInstance['log']

/**
 * Client mistakes keep their message and gain a code; server faults are masked (and logged).
 * `status` is the status of the error that carried this one (mercurius wraps GraphQL validation errors,
 * whose own originalError may be another GraphQLError without a status, e.g. a bad variable value).
 */
function publicError(error: GraphQLError, log: Log, status?: number): Record<string, unknown> {
  const original = error.originalError as (Error & ErrorWithStatus) | undefined
  status = original?.statusCode ?? status ?? (original === undefined ? 400 : 500)
  let code = original?.code ?? (error.extensions?.code as string | undefined) ?? 'GRAPHQL_VALIDATION_FAILED'
  let message = error.message
  if (status >= 500 && original !== undefined) {
    const failure = classifyDatabaseError(original)
    if (failure.kind === 'unavailable') {
      status = PROBLEMS.DatabaseUnavailable.status
      code = PROBLEMS.DatabaseUnavailable.code
      message = PROBLEMS.DatabaseUnavailable.message
    } else {
      log.error({ err: original, path: error.path }, 'GraphQL resolver failed')
      code = PROBLEMS.Internal.code
      message = 'An internal error occurred'
    }
  }
  return { message, locations: error.locations, path: error.path, extensions: { code, status } }
}

function formatExecution(
  execution: { data?: unknown; errors: readonly GraphQLError[]; statusCode?: number },
  log: Log,
) {
  const errors = execution.errors.flatMap(error => {
    const wrapper = error.originalError as (Error & ErrorWithStatus & { errors?: GraphQLError[] }) | undefined
    return Array.isArray(wrapper?.errors)
      ? wrapper.errors.map(nested => publicError(nested, log, wrapper.statusCode))
      : [publicError(error, log)]
  })
  // GraphQL over HTTP: 200 whenever there is data; otherwise the status of a sole client error.
  const onlyStatus = errors.length === 1 ? (errors[0]?.extensions as { status: number }).status : 400
  const statusCode = execution.data != null ? 200 : (execution.statusCode ?? onlyStatus)
  return { statusCode, response: { data: execution.data ?? null, errors } as never }
}

/** One count per top-level field the operation selects, by its name in the schema (aliases do not count). */
function countOperation(
  counter: FastifyInstance['appMetrics']['graphqlOperations'],
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
): void {
  const root = schema.getRootType(operation.operation)
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) continue
    const name = selection.name.value
    const field = name.startsWith('__') ? 'introspection' : root?.getFields()[name] !== undefined ? name : 'unknown'
    counter.inc({ type: operation.operation, field })
  }
}

const toGraphqlError = (error: Error): GraphQLError =>
  error instanceof GraphQLError ? error : new GraphQLError(error.message, { originalError: error })

// Per document: a client sending one query with ever new variables gets them checked, not remembered.
const MAX_REMEMBERED_VARIABLE_SETS = 64

export default async function graphqlPlugin(app: FastifyInstance, options: GraphqlOptions): Promise<void> {
  const withinLimits = new WeakMap<DocumentNode, Set<string>>()
  if (options.graphiql) await app.register(graphiql)

  await app.register(async function authenticatedGraphql(scoped) {
    scoped.addHook('onRequest', scoped.authenticate)
    await scoped.register(mercurius, {
      schema,
      resolvers,
      loaders,
      graphiql: false,
      path: '/graphql',
      allowBatchedQueries: false,
      // A query seen before runs compiled (graphql-jit) instead of through graphql-js's interpreter: 15 % less CPU
      // for the bench's page of projects with their tasks (docs/benchmarks.md). Compiled from the second time on, so
      // a one-off query never pays for compiling; mercurius keeps the compiled queries in its bounded LRU.
      jit: 1,
      // Read lazily: mercurius also builds a context to format the error of a request refused before
      // it had an identity, and that must stay a 401, not become a 500 here.
      context: request => ({
        get identity() {
          return scoped.identityOf(request)
        },
      }),
      errorFormatter: (execution, context) => {
        const formatted = formatExecution(execution, context.reply?.log ?? app.log)
        if (formatted.statusCode === 503) context.reply?.header('retry-after', RETRY_AFTER_SECONDS)
        return formatted
      },
      // Errors raised outside GraphQL execution (hooks, body parsing and validation).
      errorHandler: async (error, request, reply) => {
        // No identity: the API's one error policy (a problem+json 401/403, as over REST) in the parent handler.
        if (request.identity === null) throw error
        const refused = Array.isArray(request.body)
          ? new Errors.InvalidInput('Batched queries are not supported; send one operation per request')
          : (error as { code?: string }).code === PROBLEMS.UnsupportedMediaType.code
            ? new Errors.UnsupportedMediaType(
                unsupportedMediaTypeDetail(request.headers['content-type'], GRAPHQL_MEDIA_TYPES),
              )
            : error
        const { statusCode, response } = formatExecution({ errors: [toGraphqlError(refused)] }, request.log)
        if (statusCode === 503) reply.header('retry-after', RETRY_AFTER_SECONDS)
        return reply.code(statusCode).send(response)
      },
    })
    // Mercurius reads a query that does not parse as GraphQL as a JSON-encoded AST instead ({"query": "5"} or a
    // hand-made node tree): that skips the parser's checks and crashed validation as a 500. Only source text is taken.
    scoped.graphql.addHook('preValidation', async (_schema, document) => {
      if ((document as { kind?: unknown } | null)?.kind !== Kind.DOCUMENT || document.loc === undefined) {
        throw new Errors.InvalidInput('The query does not parse as a GraphQL document')
      }
    })
    scoped.graphql.addHook('preExecution', async (schema, document, context, variables) => {
      // GET carries variables as JSON text, which may hold any value: execution assumes an object (else a 500).
      if (
        variables !== undefined &&
        variables !== null &&
        (typeof variables !== 'object' || Array.isArray(variables))
      ) {
        throw new Errors.InvalidInput('variables must be a JSON object')
      }
      // GET carries the operation name in the query string, POST in the body.
      const { request } = context.reply
      const params = (request.method === 'GET' ? request.query : request.body) as
        { operationName?: unknown } | undefined
      const operationName =
        typeof params?.operationName === 'string' && params.operationName !== '' ? params.operationName : undefined
      // Mercurius hands a repeated query its cached document: limits it passed with these variables hold again.
      const checked = `${operationName ?? ''}\n${JSON.stringify(variables ?? null)}`
      const passed = withinLimits.get(document)
      if (passed?.has(checked) !== true) {
        assertSingleMutation(document, operationName)
        assertQueryDepth(document, operationName, options.maxDepth)
        assertQueryCost(schema, document, variables, operationName, options.maxCost)
        assertIntrospectionCost(schema, document, variables, operationName)
        if (passed === undefined) withinLimits.set(document, new Set([checked]))
        else if (passed.size < MAX_REMEMBERED_VARIABLE_SETS) passed.add(checked)
      }
      const operation = selectedOperation(document, operationName)
      if (operation?.operation === 'query') context.reply.header(READ_ONLY_RESPONSE_HEADER, '1')
      if (operation !== undefined) countOperation(scoped.appMetrics.graphqlOperations, schema, operation)
    })
  })
}
