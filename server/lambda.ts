// The API as a serverless function: the same buildApp factory behind Amazon API Gateway (HTTP API,
// payload format 2.0) through @fastify/aws-lambda. The app is built on the first invocation of a cold
// start and reused by every warm one; a failed build is not cached, so the next invocation retries it.
// Run it on Postgres (DATABASE_URL) with IDENTITY_SECRET set: a function's disk is not a place for the
// embedded database, and a secret generated there could never match the proxy's.
// @see https://github.com/fastify/aws-lambda-fastify
import awsLambdaFastify, { type LambdaResponse } from '@fastify/aws-lambda'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../common/logger.ts'
import { buildApp, type BuildAppOptions } from './app.ts'
import { loadServerConfig, type ServerConfig } from './config.ts'

/** The parts of an API Gateway proxy event this entry reads; the rest is passed through untouched. */
export interface ApiGatewayEvent {
  version?: string
  rawPath?: string
  rawQueryString?: string
  queryStringParameters?: Record<string, string | undefined>
  [field: string]: unknown
}

export type LambdaHandler = (event: ApiGatewayEvent, context: unknown) => Promise<LambdaResponse>

export interface LambdaSetup {
  config: ServerConfig
  options?: BuildAppOptions
}

export interface LambdaEntry {
  handler: LambdaHandler
  /** Closes the app if it was built (tests; a function instance is frozen, not closed). */
  close(): Promise<void>
}

// Fonts and images (Swagger UI, GraphiQL) must travel base64-encoded; JSON and text travel as they are.
const BINARY_MIME_TYPES = [
  'image/png',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'font/woff',
  'font/woff2',
  'application/octet-stream',
]

/**
 * Payload 2.0 carries the query string exactly as the client sent it. The adapter would otherwise rebuild
 * it from the decoded parameters, re-encoding it differently (`%20` becomes `+`), and the identity
 * signature, which covers the URL as the proxy sent it, would no longer verify.
 */
function withRawUrl(event: ApiGatewayEvent): ApiGatewayEvent {
  if (event.version !== '2.0' || typeof event.rawPath !== 'string') return event
  const query =
    typeof event.rawQueryString === 'string' && event.rawQueryString !== '' ? `?${event.rawQueryString}` : ''
  const { queryStringParameters: _decoded, ...rest } = event
  return { ...rest, rawPath: event.rawPath + query }
}

export function createLambdaHandler(setup: () => LambdaSetup | Promise<LambdaSetup>): LambdaEntry {
  let built: Promise<{ app: FastifyInstance; proxy: LambdaHandler }> | undefined

  const build = async () => {
    const { config, options } = await setup()
    const app = await buildApp(config, options)
    await app.ready()
    const proxy = awsLambdaFastify<ApiGatewayEvent>(app, { binaryMimeTypes: BINARY_MIME_TYPES, decorateRequest: false })
    return { app, proxy }
  }

  return {
    async handler(event, context) {
      built ??= build()
      let ready: Awaited<typeof built>
      try {
        ready = await built
      } catch (error) {
        built = undefined
        throw error
      }
      return ready.proxy(withRawUrl(event), context)
    },
    async close() {
      const current = built
      built = undefined
      const ready = await current?.catch(() => undefined)
      await ready?.app.close()
    },
  }
}

/** Settings from the function's environment, read on the first invocation rather than at import. */
function fromEnvironment(): LambdaSetup {
  const config = loadServerConfig()
  return { config, options: { logger: loggerOptions('api', config.logLevel) } }
}

export const { handler, close } = createLambdaHandler(fromEnvironment)
