// The API as one Fastify app, built from its config. It never listens: server/main.ts (a plain server)
// and server/lambda.ts (a serverless handler) wrap the same factory.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import etag from '@fastify/etag'
import type { ServerConfig } from './config.js'
import databasePlugin, { type Database } from './plugins/database.js'
import graphqlPlugin from './plugins/graphql.js'
import identityPlugin from './plugins/identity.js'
import metricsPlugin from './plugins/metrics.js'
import openapiPlugin from './plugins/openapi.js'
import problemDetailsPlugin, { sendProblem } from './plugins/problem-details.js'
import servicesPlugin from './plugins/services.js'
import apiV1 from './routes/api/v1/index.js'
import healthRoutes from './routes/health.js'

export interface BuildAppOptions {
  /** An open database to use instead of opening one from config.database (tests share one). */
  database?: Database
  /** Logger settings; main.ts passes a pino configuration, tests usually `false`. */
  logger?: FastifyServerOptions['logger']
}

// A client's request id is kept only if it is a sane token: it ends up in logs and headers.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export async function buildApp (config: ServerConfig, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy === false ? false : config.trustProxy,
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Reject unknown fields instead of silently dropping them: a typo should be an error, not a no-op.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    frameworkErrors: (error, request, reply) => {
      sendProblem(request, reply, error.statusCode ?? 400, error.code ?? 'FST_ERR_BAD_URL', error.message)
    },
  })

  // Only JSON bodies are understood; anything else is a 415, not a validation error.
  app.removeContentTypeParser('text/plain')
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })

  await app.register(problemDetailsPlugin)
  await app.register(metricsPlugin)
  await app.register(databasePlugin, { config: config.database, ...(options.database !== undefined ? { database: options.database } : {}) })
  await app.register(servicesPlugin)
  await app.register(identityPlugin, config.identity)
  await app.register(etag)
  await app.register(openapiPlugin)

  await app.register(healthRoutes)
  await app.register(apiV1, { prefix: '/api/v1', cacheSMaxAgeSeconds: config.cacheSMaxAgeSeconds })
  await app.register(graphqlPlugin, config.graphql)
  return app
}
