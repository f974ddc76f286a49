// Every setting of the edge proxy: environment variables, optionally on top of a JSON config file
// (PROXY_CONFIG_FILE, same keys; the environment wins). Nothing else in proxy/ reads process.env.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Type, type Static } from 'typebox'
import { ConfigError, loadEnvConfig } from '../common/env-config.ts'
import { PLANS, type Plan } from '../common/plans.ts'
import { readOrCreateSecret } from '../common/secret-file.ts'
import { serverTimeouts, serverTimeoutSettings, type ServerTimeouts } from '../common/server-timeouts.ts'
import { tracingConfig, type TracingConfig } from '../common/tracing.ts'
import type { CompressionSettings } from './compression/policy.ts'
import { ENCODINGS, type Encoding } from './compression/negotiation.ts'
import { publicNames } from './tls/acme/name-policy.ts'
import { resolvePortSharing, type PortSharing } from './cluster/port-sharing.ts'

export const ProxyEnvSchema = Type.Object({
  PROXY_HOST: Type.String({ default: '127.0.0.1', description: 'Address the public ports listen on' }),
  PROXY_HTTPS_PORT: Type.Integer({ default: 8443, minimum: 0, maximum: 65535 }),
  PROXY_HTTP_PORT: Type.Integer({
    default: 8080,
    minimum: 0,
    maximum: 65535,
    description: 'Plain HTTP: redirects to HTTPS',
  }),
  PROXY_PUBLIC_HTTPS_PORT: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 65535,
      description: 'HTTPS port clients see, for redirects (behind port mapping)',
    }),
  ),
  PROXY_WORKERS: Type.String({
    default: '1',
    description:
      'Processes serving the public ports: a whole number, or "auto" for one per CPU (os.availableParallelism())',
  }),
  PROXY_PORT_SHARING: Type.Enum(['auto', 'kernel', 'shared', 'primary'], {
    default: 'auto',
    description:
      'With PROXY_WORKERS > 1: "kernel" (each worker its own SO_REUSEPORT socket, Linux spreads connections), ' +
      '"shared" (every worker accepts from one socket, SCHED_NONE), "primary" (node:cluster\'s primary accepts ' +
      'each connection and hands it over), "auto" (kernel on Linux, else primary)',
  }),
  PROXY_METRICS_HOST: Type.String({ default: '127.0.0.1', description: 'Internal metrics port: never the public one' }),
  PROXY_METRICS_PORT: Type.Integer({ default: 9464, minimum: 0, maximum: 65535 }),
  PROXY_HOSTNAMES: Type.String({
    default: 'localhost,127.0.0.1,::1',
    description: 'Names the generated certificate covers',
  }),
  TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  DATA_DIR: Type.String({ default: '.data' }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  UPSTREAM_URLS: Type.String({
    default: 'http://127.0.0.1:3000',
    pattern: '^https?://',
    description: 'API base URLs, comma-separated',
  }),
  UPSTREAM_CONNECT_TIMEOUT_MS: Type.Integer({ default: 2000, minimum: 50 }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 30000, minimum: 100, description: 'No response headers by then: 504' }),
  UPSTREAM_CONNECTIONS: Type.Integer({ default: 128, minimum: 1, description: 'Keep-alive pool size per upstream' }),
  UPSTREAM_HEALTH_INTERVAL_MS: Type.Integer({
    default: 2000,
    minimum: 100,
    description: 'How often each of several upstreams is checked at /ready',
  }),
  IDENTITY_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  HTPASSWD_FILE: Type.Optional(Type.String({ minLength: 1, description: 'Default DATA_DIR/htpasswd' })),
  HTPASSWD_POLL_MS: Type.Integer({
    default: 1000,
    minimum: 10,
    description: 'How often the credentials file is checked for changes',
  }),
  AUTH_CACHE_TTL_SECONDS: Type.Integer({ default: 30, minimum: 0, maximum: 3600 }),
  AUTH_FAILURE_LIMIT: Type.Integer({ default: 10, minimum: 1, description: 'Failed logins per address per window' }),
  AUTH_FAILURE_WINDOW_SECONDS: Type.Integer({ default: 60, minimum: 1 }),
  AUTH_LOGIN_FAILURE_LIMIT: Type.Integer({
    default: 30,
    minimum: 1,
    description: 'Failed logins per login (from any address) per window',
  }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ default: 60, minimum: 1 }),
  RATE_LIMIT_ANONYMOUS: Type.Integer({
    default: 60,
    minimum: 1,
    description: 'Requests per window per address before authentication',
  }),
  RATE_LIMIT_FREE: Type.Integer({ default: 300, minimum: 1 }),
  RATE_LIMIT_PRO: Type.Integer({ default: 1200, minimum: 1 }),
  RATE_LIMIT_ENTERPRISE: Type.Integer({ default: 6000, minimum: 1 }),
  RATE_LIMIT_FAIL_OPEN: Type.Boolean({ default: true, description: 'Serve when the rate-limit store is unreachable' }),
  TENANT_PLANS: Type.String({
    default: '',
    pattern: `^([a-z0-9-]+=(${PLANS.join('|')}))?(,[a-z0-9-]+=(${PLANS.join('|')}))*$`,
    description: 'Override: slug=plan,… wins over the stored plan',
  }),
  TENANT_FACTS_TTL_SECONDS: Type.Integer({
    default: 5,
    minimum: 1,
    maximum: 300,
    description: 'How long the edge uses what the API said about a tenant (plan, domain owner) before asking again',
  }),
  TENANT_FACTS_MAX_ENTRIES: Type.Integer({
    default: 10_000,
    minimum: 100,
    description: 'Tenants and hostnames the edge keeps answers for (least recently used go first)',
  }),
  CACHE_MAX_ENTRIES: Type.Integer({ default: 10_000, minimum: 1 }),
  CACHE_MAX_BYTES: Type.Integer({ default: 64 * 1024 * 1024, minimum: 1024 }),
  CACHE_MAX_ENTRY_BYTES: Type.Integer({ default: 1024 * 1024, minimum: 1 }),
  CACHE_MAX_STALE_IF_ERROR_SECONDS: Type.Integer({ default: 300, minimum: 0 }),
  COMPRESSION: Type.Boolean({
    default: true,
    description: 'Compress responses clients ask to have compressed (Accept-Encoding)',
  }),
  COMPRESSION_ENCODINGS: Type.String({
    default: 'zstd,br,gzip',
    pattern: `^(${ENCODINGS.join('|')})(,(${ENCODINGS.join('|')}))*$`,
    description: 'Offered codings, most preferred first',
  }),
  COMPRESSION_GZIP_LEVEL: Type.Integer({ default: 1, minimum: 1, maximum: 9 }),
  COMPRESSION_BROTLI_LEVEL: Type.Integer({ default: 1, minimum: 0, maximum: 11 }),
  COMPRESSION_ZSTD_LEVEL: Type.Integer({ default: 1, minimum: 1, maximum: 19 }),
  COMPRESSION_MIN_BYTES: Type.Integer({
    default: 1024,
    minimum: 0,
    description: 'Smaller bodies are sent uncompressed',
  }),
  BODY_LIMIT_BYTES: Type.Integer({ default: 1_048_576, minimum: 1024 }),
  BODY_BUFFER_MAX_BYTES: Type.Integer({
    default: 64 * 1024 * 1024,
    minimum: 1024,
    description: 'Request bodies held at the edge at once, all requests together; past it 503 + Retry-After',
  }),
  UPSTREAM_USER_MAX_IN_FLIGHT: Type.Optional(
    Type.Integer({
      minimum: 1,
      description:
        'Requests one tenant user may have at the API at once (default: a quarter of the pool, UPSTREAM_CONNECTIONS per instance)',
    }),
  ),
  MAX_CONNECTIONS: Type.Integer({
    default: 10_000,
    minimum: 1,
    description: 'Open client connections per listener (HTTPS, redirect); more are refused',
  }),
  HTTP2_MAX_CONCURRENT_STREAMS: Type.Integer({
    default: 128,
    minimum: 1,
    maximum: 1000,
    description: 'Requests one HTTP/2 connection may have open at once',
  }),
  SHUTDOWN_GRACE_MS: Type.Integer({ default: 10000, minimum: 0 }),
  ...serverTimeoutSettings({ headersMs: 10_000, requestMs: 60_000, keepAliveMs: 60_000 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'OTLP/HTTP collector; spans go to <url>/v1/traces. Unset: no tracing',
    }),
  ),
  OTEL_SERVICE_NAME: Type.String({ default: 'gatehouse-proxy', minLength: 1 }),
  ACME_EMAIL: Type.Optional(
    Type.String({
      pattern: '^[^@\\s]+@[^@\\s]+$',
      description:
        "Turns ACME on: certificates from a public CA for the public names in PROXY_HOSTNAMES; the CA's contact for the account",
    }),
  ),
  ACME_DIRECTORY_URL: Type.String({
    default: 'https://acme-v02.api.letsencrypt.org/directory',
    pattern: '^https?://',
    description: 'ACME directory (staging: https://acme-staging-v02.api.letsencrypt.org/directory)',
  }),
  ACME_CA_CERT_FILE: Type.Optional(
    Type.String({ minLength: 1, description: "PEM to trust for a private ACME server's own HTTPS (Pebble, step-ca)" }),
  ),
  ACME_CHALLENGES: Type.String({
    default: 'http-01,tls-alpn-01',
    pattern: '^(http-01|tls-alpn-01)(,(http-01|tls-alpn-01))*$',
    description: 'Challenges offered, in order of preference',
  }),
})

export type ProxyEnv = Static<typeof ProxyEnvSchema>

export interface ProxyConfig {
  host: string
  httpsPort: number
  httpPort: number
  publicHttpsPort: number | undefined
  metrics: { host: string; port: number }
  /** 1: one process, as always; more: a node:cluster primary with this many workers (proxy/cluster/). */
  workers: number
  /** How the workers share the public ports (proxy/cluster/port-sharing.ts); PROXY_PORT_SHARING resolved. */
  portSharing: PortSharing
  logLevel: string
  /** PROXY_HOSTNAMES, lowercase: the edge's own names, whichever certificate serves them (never a tenant's). */
  hostnames: string[]
  tls: { kind: 'files'; certFile: string; keyFile: string } | { kind: 'local-ca'; dir: string; hostnames: string[] }
  upstreams: URL[]
  upstream: { connectTimeoutMs: number; timeoutMs: number; connections: number; healthIntervalMs: number }
  identitySecret: string
  auth: {
    htpasswdFile: string
    htpasswdPollMs: number
    cacheTtlMs: number
    failureLimit: number
    loginFailureLimit: number
    failureWindowMs: number
  }
  redisUrl: string | undefined
  rateLimit: {
    windowMs: number
    anonymous: number
    perPlan: Record<Plan, number>
    /** TENANT_PLANS: overrides of the plan stored with the tenant (which the edge learns from the API). */
    tenantPlans: Map<string, Plan>
    failOpen: boolean
  }
  /** What the edge learns from the API about tenants (proxy/tenant-facts/), and how long it keeps it. */
  tenantFacts: { ttlMs: number; maxEntries: number; timeoutMs: number }
  cache: { maxEntries: number; maxBytes: number; maxEntryBytes: number; maxStaleIfErrorSeconds: number }
  compression: CompressionSettings
  bodyLimitBytes: number
  /** All request bodies buffered at the edge at once may take this much memory. */
  bodyBufferMaxBytes: number
  /** Requests one tenant user may have at the API at once: one user cannot take the upstream pool. */
  userMaxInFlight: number
  /** Client connections per public listener, and streams per HTTP/2 connection. */
  maxConnections: number
  http2MaxConcurrentStreams: number
  shutdownGraceMs: number
  /** How long a client may take over its headers, its whole request, and between requests. */
  clientTimeouts: ServerTimeouts
  tracing: TracingConfig
  /** ACME_EMAIL set: certificates from an ACME CA for `names` (PROXY_HOSTNAMES that qualify), kept in `dir`. */
  acme: AcmeConfig | undefined
}

export type AcmeChallenge = 'http-01' | 'tls-alpn-01'

export interface AcmeConfig {
  email: string
  directoryUrl: string
  /** The ACME server's own HTTPS is checked against this PEM as well as the usual roots. */
  caCert: string | undefined
  challenges: AcmeChallenge[]
  names: string[]
  dir: string
}

function acmeConfig(settings: ProxyEnv): AcmeConfig | undefined {
  if (settings.ACME_EMAIL === undefined) return undefined
  let caCert: string | undefined
  if (settings.ACME_CA_CERT_FILE !== undefined) {
    try {
      caCert = readFileSync(settings.ACME_CA_CERT_FILE, 'utf8')
    } catch (error) {
      const reason = (error as Error).message
      throw new ConfigError([`ACME_CA_CERT_FILE: cannot read ${settings.ACME_CA_CERT_FILE}: ${reason}`])
    }
  }
  const challenges = [...new Set(settings.ACME_CHALLENGES.split(','))] as AcmeChallenge[]
  if (challenges.length === 1 && challenges[0] === 'http-01' && settings.PROXY_HTTP_PORT === 0) {
    throw new ConfigError(['ACME_CHALLENGES: http-01 alone needs the HTTP port, and PROXY_HTTP_PORT is 0'])
  }
  return {
    email: settings.ACME_EMAIL,
    directoryUrl: settings.ACME_DIRECTORY_URL,
    caCert,
    challenges,
    names: publicNames(settings.PROXY_HOSTNAMES.split(',').map(name => name.trim())),
    dir: join(settings.DATA_DIR, 'acme'),
  }
}

function readConfigFile(path: string): Record<string, string> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new ConfigError([`PROXY_CONFIG_FILE: cannot read ${path}: ${(error as Error).message}`])
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`PROXY_CONFIG_FILE: ${path} must hold a JSON object of settings`])
  }
  const unknown = Object.keys(parsed).filter(key => !(key in ProxyEnvSchema.properties))
  if (unknown.length > 0) throw new ConfigError(unknown.map(key => `${key} (in ${path}): not a proxy setting`))
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]))
}

/** A cap that only catches typos: far more workers than cores just competes for them. */
const MAX_WORKERS = 1024

function parseWorkers(value: string): number {
  const trimmed = value.trim()
  if (trimmed === 'auto') return availableParallelism()
  if (/^\d+$/.test(trimmed) && Number(trimmed) >= 1 && Number(trimmed) <= MAX_WORKERS) return Number(trimmed)
  throw new ConfigError([
    `PROXY_WORKERS: a whole number from 1 to ${MAX_WORKERS}, or "auto" for one per CPU (got ${JSON.stringify(value)})`,
  ])
}

export function loadProxyConfig(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
): ProxyConfig {
  const fromFile =
    env.PROXY_CONFIG_FILE !== undefined && env.PROXY_CONFIG_FILE !== '' ? readConfigFile(env.PROXY_CONFIG_FILE) : {}
  const settings = loadEnvConfig(ProxyEnvSchema, { ...fromFile, ...env })

  if ((settings.TLS_CERT_FILE === undefined) !== (settings.TLS_KEY_FILE === undefined)) {
    throw new ConfigError([
      'TLS_CERT_FILE and TLS_KEY_FILE: set both to use your own certificate, or neither for a local CA',
    ])
  }
  const workers = parseWorkers(settings.PROXY_WORKERS)
  const portSharing = resolvePortSharing(settings.PROXY_PORT_SHARING, platform)
  const encodings = settings.COMPRESSION_ENCODINGS.split(',') as Encoding[]
  if (new Set(encodings).size < encodings.length) {
    throw new ConfigError([`COMPRESSION_ENCODINGS: "${settings.COMPRESSION_ENCODINGS}" names a coding twice`])
  }
  const hostnames = settings.PROXY_HOSTNAMES.split(',')
    .map(name => name.trim().toLowerCase())
    .filter(Boolean)
  const upstreams = settings.UPSTREAM_URLS.split(',')
    .map(entry => entry.trim())
    .filter(Boolean)
  const badUpstream = upstreams.find(entry => !URL.canParse(entry) || !/^https?:$/.test(new URL(entry).protocol))
  if (badUpstream !== undefined) throw new ConfigError([`UPSTREAM_URLS: "${badUpstream}" is not an http(s) URL`])

  return {
    host: settings.PROXY_HOST,
    httpsPort: settings.PROXY_HTTPS_PORT,
    httpPort: settings.PROXY_HTTP_PORT,
    publicHttpsPort: settings.PROXY_PUBLIC_HTTPS_PORT,
    metrics: { host: settings.PROXY_METRICS_HOST, port: settings.PROXY_METRICS_PORT },
    workers,
    portSharing,
    logLevel: settings.LOG_LEVEL,
    hostnames,
    tls:
      settings.TLS_CERT_FILE !== undefined && settings.TLS_KEY_FILE !== undefined
        ? { kind: 'files', certFile: settings.TLS_CERT_FILE, keyFile: settings.TLS_KEY_FILE }
        : {
            kind: 'local-ca',
            dir: join(settings.DATA_DIR, 'tls'),
            hostnames,
          },
    upstreams: upstreams.map(entry => new URL(entry)),
    upstream: {
      connectTimeoutMs: settings.UPSTREAM_CONNECT_TIMEOUT_MS,
      timeoutMs: settings.UPSTREAM_TIMEOUT_MS,
      connections: settings.UPSTREAM_CONNECTIONS,
      healthIntervalMs: settings.UPSTREAM_HEALTH_INTERVAL_MS,
    },
    identitySecret: settings.IDENTITY_SECRET ?? readOrCreateSecret(join(settings.DATA_DIR, 'identity-secret')),
    auth: {
      htpasswdFile: settings.HTPASSWD_FILE ?? join(settings.DATA_DIR, 'htpasswd'),
      htpasswdPollMs: settings.HTPASSWD_POLL_MS,
      cacheTtlMs: settings.AUTH_CACHE_TTL_SECONDS * 1000,
      failureLimit: settings.AUTH_FAILURE_LIMIT,
      loginFailureLimit: settings.AUTH_LOGIN_FAILURE_LIMIT,
      failureWindowMs: settings.AUTH_FAILURE_WINDOW_SECONDS * 1000,
    },
    redisUrl: settings.REDIS_URL,
    rateLimit: {
      windowMs: settings.RATE_LIMIT_WINDOW_SECONDS * 1000,
      anonymous: settings.RATE_LIMIT_ANONYMOUS,
      perPlan: {
        free: settings.RATE_LIMIT_FREE,
        pro: settings.RATE_LIMIT_PRO,
        enterprise: settings.RATE_LIMIT_ENTERPRISE,
      },
      tenantPlans: new Map(
        settings.TENANT_PLANS.split(',')
          .filter(Boolean)
          .map(pair => pair.split('=') as [string, Plan]),
      ),
      failOpen: settings.RATE_LIMIT_FAIL_OPEN,
    },
    tenantFacts: {
      ttlMs: settings.TENANT_FACTS_TTL_SECONDS * 1000,
      maxEntries: settings.TENANT_FACTS_MAX_ENTRIES,
      timeoutMs: Math.min(settings.UPSTREAM_TIMEOUT_MS, 2000),
    },
    cache: {
      maxEntries: settings.CACHE_MAX_ENTRIES,
      maxBytes: settings.CACHE_MAX_BYTES,
      maxEntryBytes: settings.CACHE_MAX_ENTRY_BYTES,
      maxStaleIfErrorSeconds: settings.CACHE_MAX_STALE_IF_ERROR_SECONDS,
    },
    compression: {
      enabled: settings.COMPRESSION,
      encodings,
      levels: {
        gzip: settings.COMPRESSION_GZIP_LEVEL,
        br: settings.COMPRESSION_BROTLI_LEVEL,
        zstd: settings.COMPRESSION_ZSTD_LEVEL,
      },
      minBytes: settings.COMPRESSION_MIN_BYTES,
    },
    bodyLimitBytes: settings.BODY_LIMIT_BYTES,
    bodyBufferMaxBytes: settings.BODY_BUFFER_MAX_BYTES,
    userMaxInFlight:
      settings.UPSTREAM_USER_MAX_IN_FLIGHT ??
      Math.max(1, Math.floor((settings.UPSTREAM_CONNECTIONS * upstreams.length) / 4)),
    maxConnections: settings.MAX_CONNECTIONS,
    http2MaxConcurrentStreams: settings.HTTP2_MAX_CONCURRENT_STREAMS,
    shutdownGraceMs: settings.SHUTDOWN_GRACE_MS,
    clientTimeouts: serverTimeouts(settings),
    tracing: tracingConfig(settings.OTEL_EXPORTER_OTLP_ENDPOINT, settings.OTEL_SERVICE_NAME),
    acme: acmeConfig(settings),
  }
}
