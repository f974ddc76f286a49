// Every setting of the API, as the README's configuration table promises: defaults, the switch from the
// embedded database to Postgres, and bad values refused with a message naming the variable.
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../common/env-config.ts'
import { loadServerConfig } from '../../server/config.ts'

const SECRET = 'a-shared-secret-of-at-least-32-characters'

t.test('defaults: embedded database in DATA_DIR, loopback on 3000, the documented limits', async t => {
  const dataDir = t.testdir()
  const config = loadServerConfig({ DATA_DIR: dataDir, IDENTITY_SECRET: SECRET })
  t.strictSame(config, {
    host: '127.0.0.1',
    port: 3000,
    logLevel: 'info',
    database: { kind: 'pglite', dataDir: join(dataDir, 'pglite'), seedDemoData: false },
    identity: { secret: SECRET, maxAgeSeconds: 60 },
    trustProxy: false,
    bodyLimitBytes: 1_048_576,
    cacheSMaxAgeSeconds: 5,
    graphql: { maxDepth: 7, maxCost: 5000, graphiql: true },
    shutdownGraceMs: 10_000,
    shutdownDrainDelayMs: 0,
    timeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000 },
    tracing: { otlpEndpoint: undefined, serviceName: 'gatehouse-api' },
  })
})

t.test('an empty variable means unset, as compose files and shells write it', async t => {
  const config = loadServerConfig({
    DATA_DIR: t.testdir(),
    IDENTITY_SECRET: SECRET,
    PORT: '',
    DATABASE_URL: '',
    LOG_LEVEL: '',
  })
  t.equal(config.port, 3000)
  t.equal(config.logLevel, 'info')
  t.equal(config.database.kind, 'pglite')
})

t.test('without IDENTITY_SECRET a development secret is generated once into DATA_DIR and reused', async t => {
  const dataDir = t.testdir()
  const first = loadServerConfig({ DATA_DIR: dataDir })
  t.ok(first.identity.secret.length >= 32, 'as long as a configured one must be')
  const path = join(dataDir, 'identity-secret')
  t.equal(readFileSync(path, 'utf8').trim(), first.identity.secret)
  t.equal(statSync(path).mode & 0o777, 0o600, 'readable by its owner only')
  t.equal(
    loadServerConfig({ DATA_DIR: dataDir }).identity.secret,
    first.identity.secret,
    'the API and the proxy agree on it',
  )
  t.not(
    loadServerConfig({ DATA_DIR: t.testdir({}) }).identity.secret,
    first.identity.secret,
    'each data folder has its own',
  )
  t.equal(
    loadServerConfig({ DATA_DIR: dataDir, IDENTITY_SECRET: SECRET }).identity.secret,
    SECRET,
    'a configured secret wins',
  )
})

t.test('DATABASE_URL switches to Postgres with the pool settings', async t => {
  const url = 'postgresql://gatehouse_app:pw@db.internal:5432/gatehouse'
  const config = loadServerConfig({
    IDENTITY_SECRET: SECRET,
    DATA_DIR: t.testdir(),
    DATABASE_URL: url,
    DATABASE_POOL_MAX: '25',
    DATABASE_CONNECT_TIMEOUT_MS: '2500',
    DATABASE_STATEMENT_TIMEOUT_MS: '30000',
    SEED_DEMO_DATA: 'true',
  })
  t.strictSame(config.database, {
    kind: 'postgres',
    url,
    poolMax: 25,
    connectTimeoutMs: 2500,
    statementTimeoutMs: 30_000,
  })
  t.equal(
    loadServerConfig({ IDENTITY_SECRET: SECRET, DATABASE_URL: 'postgres://app@db/gatehouse' }).database.kind,
    'postgres',
    'postgres:// works too',
  )
  t.strictSame(loadServerConfig({ IDENTITY_SECRET: SECRET }).database, {
    kind: 'pglite',
    dataDir: join('.data', 'pglite'),
    seedDemoData: false,
  })
})

t.test('every other setting is read and converted', async t => {
  const config = loadServerConfig({
    IDENTITY_SECRET: SECRET,
    DATA_DIR: t.testdir(),
    HOST: '0.0.0.0',
    PORT: '8080',
    LOG_LEVEL: 'debug',
    IDENTITY_MAX_AGE_SECONDS: '30',
    TRUST_PROXY: ' 10.0.0.7, 192.168.0.0/16 ,',
    BODY_LIMIT_BYTES: '2048',
    CACHE_S_MAXAGE_SECONDS: '0',
    GRAPHQL_MAX_DEPTH: '4',
    GRAPHQL_MAX_COST: '100',
    GRAPHIQL: 'false',
    SEED_DEMO_DATA: 'true',
    SHUTDOWN_GRACE_MS: '0',
    HEADERS_TIMEOUT_MS: '2000',
    REQUEST_TIMEOUT_MS: '5000',
    KEEP_ALIVE_TIMEOUT_MS: '1000',
    UNRELATED_VARIABLE: 'ignored',
  })
  t.match(config, {
    host: '0.0.0.0',
    port: 8080,
    logLevel: 'debug',
    identity: { maxAgeSeconds: 30 },
    trustProxy: ['10.0.0.7', '192.168.0.0/16'],
    bodyLimitBytes: 2048,
    cacheSMaxAgeSeconds: 0,
    graphql: { maxDepth: 4, maxCost: 100, graphiql: false },
    shutdownGraceMs: 0,
    timeouts: { headersMs: 2000, requestMs: 5000, keepAliveMs: 1000 },
    database: { kind: 'pglite', seedDemoData: true },
  })
  t.strictSame(config.trustProxy, ['10.0.0.7', '192.168.0.0/16'], 'blank entries are dropped')
})

t.test('bad values are refused with a ConfigError naming each variable', async t => {
  const cases: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://db/gatehouse'],
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_CONNECT_TIMEOUT_MS', 'soon'],
    ['IDENTITY_SECRET', 'too-short'],
    ['IDENTITY_MAX_AGE_SECONDS', '3600'],
    ['BODY_LIMIT_BYTES', '10'],
    ['GRAPHQL_MAX_DEPTH', '1'],
    ['GRAPHIQL', 'maybe'],
    ['SEED_DEMO_DATA', 'yes please'],
    ['SHUTDOWN_GRACE_MS', '-5'],
    ['SHUTDOWN_DRAIN_DELAY_MS', 'soon'],
    ['HEADERS_TIMEOUT_MS', '50'],
    ['REQUEST_TIMEOUT_MS', '0'],
    ['KEEP_ALIVE_TIMEOUT_MS', '-1'],
  ]
  for (const [name, value] of cases) {
    const env = { DATA_DIR: t.testdir(), IDENTITY_SECRET: SECRET, [name]: value }
    let error: unknown
    try {
      loadServerConfig(env)
    } catch (caught) {
      error = caught
    }
    t.ok(error instanceof ConfigError, `${name}=${value} is refused`)
    t.match(
      (error as Error | undefined)?.message,
      new RegExp(`^\\s+- ${name}: `, 'm'),
      `${name}=${value}: the message names it`,
    )
    t.equal((error as ConfigError | undefined)?.problems.length, 1, `${name}=${value}: and nothing else`)
  }
  t.throws(
    () => loadServerConfig({ IDENTITY_SECRET: SECRET, LOG_LEVEL: 'loud' }),
    /LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent/,
    'an enumerated setting lists its choices',
  )
})

t.test(
  'settings that only make sense together: a drain inside the grace period, a header deadline inside the request one',
  async t => {
    const env = { DATA_DIR: t.testdir(), IDENTITY_SECRET: SECRET }
    t.equal(
      loadServerConfig({ ...env, SHUTDOWN_DRAIN_DELAY_MS: '3000', SHUTDOWN_GRACE_MS: '8000' }).shutdownDrainDelayMs,
      3000,
    )
    t.throws(
      () => loadServerConfig({ ...env, SHUTDOWN_DRAIN_DELAY_MS: '10000' }),
      /SHUTDOWN_DRAIN_DELAY_MS: must be shorter than SHUTDOWN_GRACE_MS/,
      'a drain as long as the grace period would be killed before it closes anything',
    )
    t.throws(
      () => loadServerConfig({ ...env, HEADERS_TIMEOUT_MS: '40000' }),
      /HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/,
    )
  },
)

t.test('several bad values are reported together, so one restart fixes them all', async t => {
  let error: unknown
  try {
    loadServerConfig({ IDENTITY_SECRET: SECRET, PORT: 'abc', GRAPHIQL: 'maybe', LOG_LEVEL: 'loud' })
  } catch (caught) {
    error = caught
  }
  t.ok(error instanceof ConfigError)
  t.strictSame((error as ConfigError).problems.map(problem => problem.split(':')[0]).sort(), [
    'GRAPHIQL',
    'LOG_LEVEL',
    'PORT',
  ])
})
