// Every setting of the API process. Nothing else in server/ reads process.env.
import { join } from 'node:path'
import { Type, type Static } from 'typebox'
import { ConfigError, loadEnvConfig } from '../common/env-config.ts'
import { readOrCreateSecret } from '../common/secret-file.ts'
import { serverTimeouts, serverTimeoutSettings, type ServerTimeouts } from '../common/server-timeouts.ts'
import { tracingConfig, type TracingConfig } from '../common/tracing.ts'

export const ServerEnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', description: 'Address to listen on' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  DATA_DIR: Type.String({ default: '.data', description: 'Embedded database and development secrets' }),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'App role connection; without it the API runs on embedded PGlite',
    }),
  ),
  DATABASE_POOL_MAX: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ default: 10000, minimum: 100 }),
  IDENTITY_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HMAC key shared with the edge proxy' })),
  IDENTITY_MAX_AGE_SECONDS: Type.Integer({ default: 60, minimum: 1, maximum: 600 }),
  TRUST_PROXY: Type.Optional(
    Type.String({ description: 'Addresses/CIDRs whose X-Forwarded-For is believed, comma-separated' }),
  ),
  BODY_LIMIT_BYTES: Type.Integer({ default: 1_048_576, minimum: 1024 }),
  CACHE_S_MAXAGE_SECONDS: Type.Integer({ default: 5, minimum: 0, maximum: 3600 }),
  GRAPHQL_MAX_DEPTH: Type.Integer({ default: 7, minimum: 2, maximum: 50 }),
  GRAPHQL_MAX_COST: Type.Integer({ default: 5000, minimum: 10 }),
  GRAPHIQL: Type.Boolean({ default: true }),
  SEED_DEMO_DATA: Type.Boolean({
    default: false,
    description: 'Create the acme and globex demo tenants on the embedded database if absent',
  }),
  SHUTDOWN_GRACE_MS: Type.Integer({ default: 10000, minimum: 0 }),
  SHUTDOWN_DRAIN_DELAY_MS: Type.Integer({
    default: 0,
    minimum: 0,
    description: 'After SIGTERM, keep serving this long with /ready failing before closing the listener',
  }),
  // Keep-alive outlives the proxy's pooled connections (it closes them after 60 s idle), so the proxy never
  // reuses a socket this side has just closed.
  ...serverTimeoutSettings({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'OTLP/HTTP collector; spans go to <url>/v1/traces. Unset: no tracing',
    }),
  ),
  OTEL_SERVICE_NAME: Type.String({ default: 'gatehouse-api', minLength: 1 }),
})

export type ServerEnv = Static<typeof ServerEnvSchema>

export type DatabaseConfig =
  | { kind: 'postgres'; url: string; poolMax: number; connectTimeoutMs: number; statementTimeoutMs: number }
  | { kind: 'pglite'; dataDir: string | undefined; seedDemoData: boolean }

export interface ServerConfig {
  host: string
  port: number
  logLevel: string
  database: DatabaseConfig
  identity: { secret: string; maxAgeSeconds: number }
  trustProxy: string[] | false
  bodyLimitBytes: number
  cacheSMaxAgeSeconds: number
  graphql: { maxDepth: number; maxCost: number; graphiql: boolean }
  shutdownGraceMs: number
  shutdownDrainDelayMs: number
  timeouts: ServerTimeouts
  tracing: TracingConfig
}

export function loadServerConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  const settings = loadEnvConfig(ServerEnvSchema, env)
  // The drain runs inside the grace period: one as long as the other would be killed before closing.
  if (settings.SHUTDOWN_DRAIN_DELAY_MS > 0 && settings.SHUTDOWN_DRAIN_DELAY_MS >= settings.SHUTDOWN_GRACE_MS) {
    throw new ConfigError([
      `SHUTDOWN_DRAIN_DELAY_MS: must be shorter than SHUTDOWN_GRACE_MS (got ${settings.SHUTDOWN_DRAIN_DELAY_MS} >= ${settings.SHUTDOWN_GRACE_MS})`,
    ])
  }
  return {
    host: settings.HOST,
    port: settings.PORT,
    logLevel: settings.LOG_LEVEL,
    database:
      settings.DATABASE_URL !== undefined
        ? {
            kind: 'postgres',
            url: settings.DATABASE_URL,
            poolMax: settings.DATABASE_POOL_MAX,
            connectTimeoutMs: settings.DATABASE_CONNECT_TIMEOUT_MS,
            statementTimeoutMs: settings.DATABASE_STATEMENT_TIMEOUT_MS,
          }
        : { kind: 'pglite', dataDir: join(settings.DATA_DIR, 'pglite'), seedDemoData: settings.SEED_DEMO_DATA },
    identity: {
      secret: settings.IDENTITY_SECRET ?? readOrCreateSecret(join(settings.DATA_DIR, 'identity-secret')),
      maxAgeSeconds: settings.IDENTITY_MAX_AGE_SECONDS,
    },
    trustProxy:
      settings.TRUST_PROXY?.split(',')
        .map(entry => entry.trim())
        .filter(Boolean) ?? false,
    bodyLimitBytes: settings.BODY_LIMIT_BYTES,
    cacheSMaxAgeSeconds: settings.CACHE_S_MAXAGE_SECONDS,
    graphql: { maxDepth: settings.GRAPHQL_MAX_DEPTH, maxCost: settings.GRAPHQL_MAX_COST, graphiql: settings.GRAPHIQL },
    shutdownGraceMs: settings.SHUTDOWN_GRACE_MS,
    shutdownDrainDelayMs: settings.SHUTDOWN_DRAIN_DELAY_MS,
    timeouts: serverTimeouts(settings),
    tracing: tracingConfig(settings.OTEL_EXPORTER_OTLP_ENDPOINT, settings.OTEL_SERVICE_NAME),
  }
}
