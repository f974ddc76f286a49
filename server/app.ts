// The API as one Fastify app, built from its config. It never listens: server/main.ts (a plain server)
// and server/lambda.ts (a serverless handler) wrap the same factory.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import etag from '@fastify/etag'
import { Errors, problemOf, sendProblem, statusOf } from '../common/problem.ts'
import type { ServerConfig } from './config.ts'
import { INTERNAL_PREFIX } from '../common/internal-channel.ts'
import bodyDigestPlugin from './plugins/body-digest.ts'
import databasePlugin, { openDatabase, type Database } from './plugins/database.ts'
import graphqlPlugin from './plugins/graphql.ts'
import identityPlugin from './plugins/identity.ts'
import metricsPlugin from './plugins/metrics.ts'
import openapiPlugin from './plugins/openapi.ts'
import problemDetailsPlugin from './plugins/problem-details.ts'
import servicesPlugin from './plugins/services.ts'
import tracingPlugin from './plugins/tracing.ts'
import apiV1 from './routes/api/v1/index.ts'
import healthRoutes from './routes/health.ts'
import internalRoutes from './routes/internal/index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether this instance has begun shutting down; main.ts sets it when its drain starts. */
    lifecycle: { shuttingDown: boolean }
  }
}

export interface BuildAppOptions {
  /** An open database to use instead of opening one from config.database (tests share one). */
  database?: Database
  /** Logger settings; main.ts passes a pino configuration, tests usually `false`. */
  logger?: FastifyServerOptions['logger']
}

/** The only request bodies the API reads; anything else is a 415 that names them. */
const ACCEPTED_MEDIA_TYPES = ['application/json'] as const

// A client's request id is kept only if it is a sane token: it ends up in logs and headers.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export async function buildApp(config: ServerConfig, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  // Opening the embedded database (create, migrate, maybe seed) can take longer than Fastify's 10 s plugin
  // timeout on a busy machine, so it happens here, before the plugins load, rather than inside one.
  const database = options.database ?? (await openDatabase(config.database))
  try {
    return await assemble(config, options, database, options.database === undefined)
  } catch (error) {
    if (options.database === undefined) await database.close()
    throw error
  }
}

async function assemble(
  config: ServerConfig,
  options: BuildAppOptions,
  database: Database,
  ownsDatabase: boolean,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy === false ? false : config.trustProxy,
    requestIdHeader: false,
    // While closing, a request that still arrives on an open connection is served (with Connection: close,
    // below) rather than refused with Fastify's bare 503: the edge does not retry a 503, and the grace
    // period bounds how long this can go on. See server/main.ts for the whole shutdown sequence.
    return503OnClosing: false,
    genReqId: request => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Reject unknown fields instead of silently dropping them: a typo should be an error, not a no-op.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    frameworkErrors: (error, request, reply) => {
      // Refused before the onRequest hooks, which would have set it: the client still gets the id to quote.
      reply.header('x-request-id', request.id)
      const status = statusOf(error)
      sendProblem(request, reply, problemOf(error.code, status), status >= 500 ? undefined : error.message)
    },
  })

  // Only JSON bodies are understood; anything else is a 415, not a validation error.
  app.removeContentTypeParser('text/plain')
  // JSON is UTF-8 (RFC 8259 §8.1), and Fastify decodes leniently: bytes that are not UTF-8 would be stored as
  // U+FFFD, which is not what the client sent. They are a malformed body instead.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser(ACCEPTED_MEDIA_TYPES[0], { parseAs: 'buffer' }, (request, body, done) => {
    let text: string
    try {
      text = strictUtf8.decode(body as Buffer)
    } catch {
      done(new Errors.MalformedBody('The body is not valid UTF-8'), undefined)
      return
    }
    parseJson(request, text, done)
  })
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  // Shutting down begins before close() when main.ts drains, or with close(). From then every response closes
  // its connection, so keep-alive clients reconnect elsewhere and the connection of a request still in flight
  // does not hold close() open until the grace period kills the process (with the database not closed);
  // /ready answers 503 (routes/health.ts).
  const lifecycle = { shuttingDown: false }
  app.decorate('lifecycle', lifecycle)
  app.addHook('preClose', async () => {
    lifecycle.shuttingDown = true
  })
  app.addHook('onSend', async (request, reply) => {
    if (lifecycle.shuttingDown && request.raw.httpVersionMajor === 1) reply.header('connection', 'close')
  })

  // Tracing only when an OTLP endpoint is configured: otherwise no hook is added and the OpenTelemetry SDK
  // is never imported (startTracing imports it). Before the plugins and routes, so they run in its context.
  const { otlpEndpoint, serviceName } = config.tracing
  if (otlpEndpoint !== undefined) await app.register(tracingPlugin, { otlpEndpoint, serviceName })

  await app.register(problemDetailsPlugin, { acceptedMediaTypes: ACCEPTED_MEDIA_TYPES })
  await app.register(metricsPlugin)
  await app.register(databasePlugin, { database, closeWithApp: ownsDatabase })
  await app.register(servicesPlugin)
  await app.register(identityPlugin, config.identity)
  await app.register(bodyDigestPlugin)
  await app.register(etag)
  await app.register(openapiPlugin)

  await app.register(healthRoutes)
  await app.register(apiV1, { prefix: '/api/v1', cacheSMaxAgeSeconds: config.cacheSMaxAgeSeconds })
  await app.register(graphqlPlugin, config.graphql)
  await app.register(internalRoutes, {
    prefix: INTERNAL_PREFIX,
    identitySecret: config.identity.secret,
    maxAgeSeconds: config.identity.maxAgeSeconds,
  })
  return app
}
