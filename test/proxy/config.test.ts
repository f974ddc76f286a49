// The proxy's settings: validated at start with errors naming the bad setting, an optional JSON file
// under the environment, unknown keys in that file refused, and values turned into the config the app uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../common/env-config.ts'
import { loadProxyConfig } from '../../proxy/config.ts'

const SECRET = 'a-secret-of-at-least-thirty-two-characters'

function tempDir(t: import('tap').Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadProxyConfig({ IDENTITY_SECRET: SECRET, ...env })
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.test('each bad setting is refused with its name', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PROXY_HTTPS_PORT: '70000' }, /^PROXY_HTTPS_PORT: /],
    [{ PROXY_HTTPS_PORT: '8443.5' }, /^PROXY_HTTPS_PORT: /],
    [{ UPSTREAM_URLS: 'ftp://api' }, /^UPSTREAM_URLS: /],
    [{ UPSTREAM_URLS: 'http://ok:3000,https://' }, /^UPSTREAM_URLS: /],
    [{ UPSTREAM_TIMEOUT_MS: '10' }, /^UPSTREAM_TIMEOUT_MS: /],
    [{ REDIS_URL: 'localhost:6379' }, /^REDIS_URL: /],
    [{ RATE_LIMIT_FREE: '0' }, /^RATE_LIMIT_FREE: /],
    [{ RATE_LIMIT_FAIL_OPEN: 'maybe' }, /^RATE_LIMIT_FAIL_OPEN: /],
    [{ TENANT_PLANS: 'acme=platinum' }, /^TENANT_PLANS: /],
    [{ TENANT_FACTS_TTL_SECONDS: '0' }, /^TENANT_FACTS_TTL_SECONDS: /],
    [{ TENANT_FACTS_TTL_SECONDS: '3601' }, /^TENANT_FACTS_TTL_SECONDS: /],
    [{ TENANT_FACTS_MAX_ENTRIES: 'many' }, /^TENANT_FACTS_MAX_ENTRIES: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of fatal, error/],
    [{ COMPRESSION: 'sometimes' }, /^COMPRESSION: /],
    [{ COMPRESSION_ENCODINGS: 'gzip,deflate' }, /^COMPRESSION_ENCODINGS: /],
    [{ COMPRESSION_ENCODINGS: 'gzip,br,gzip' }, /^COMPRESSION_ENCODINGS: .*twice/],
    [{ COMPRESSION_GZIP_LEVEL: '10' }, /^COMPRESSION_GZIP_LEVEL: /],
    [{ COMPRESSION_BROTLI_LEVEL: '12' }, /^COMPRESSION_BROTLI_LEVEL: /],
    [{ COMPRESSION_ZSTD_LEVEL: '0' }, /^COMPRESSION_ZSTD_LEVEL: /],
    [{ COMPRESSION_MIN_BYTES: '-1' }, /^COMPRESSION_MIN_BYTES: /],
    [{ IDENTITY_SECRET: 'short' }, /^IDENTITY_SECRET: .*not shown/],
    [{ TLS_CERT_FILE: '/etc/cert.pem' }, /^TLS_CERT_FILE and TLS_KEY_FILE: set both/],
    [{ PROXY_WORKERS: '0' }, /^PROXY_WORKERS: a whole number from 1 to 1024, or "auto" .*\(got "0"\)/],
    [{ PROXY_WORKERS: 'all' }, /^PROXY_WORKERS: .*\(got "all"\)/],
    [{ PROXY_WORKERS: '2.5' }, /^PROXY_WORKERS: /],
    [{ PROXY_WORKERS: '-2' }, /^PROXY_WORKERS: /],
    [{ PROXY_WORKERS: '5000' }, /^PROXY_WORKERS: /],
    [{ PROXY_PORT_SHARING: 'none' }, /^PROXY_PORT_SHARING: must be one of auto, kernel, shared, primary/],
    [{ HEADERS_TIMEOUT_MS: '10' }, /^HEADERS_TIMEOUT_MS: /],
    [{ HEADERS_TIMEOUT_MS: '90000' }, /^HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/],
    [{ KEEP_ALIVE_TIMEOUT_MS: 'long' }, /^KEEP_ALIVE_TIMEOUT_MS: /],
  ]
  for (const [env, expected] of cases) {
    const problems = problemsOf(env)
    t.equal(problems.length, 1, JSON.stringify(env))
    t.match(problems[0], expected, JSON.stringify(env))
  }
  t.notMatch(problemsOf({ IDENTITY_SECRET: 'short' })[0], /short/, 'a secret is never echoed')
  t.notMatch(
    problemsOf({ REDIS_URL: 'redis:/user:hunter2@x' })[0],
    /hunter2/,
    'a URL (with its password) is never echoed',
  )
})

t.test('values become the config the app uses', async t => {
  const dir = tempDir(t)
  const config = loadProxyConfig({
    DATA_DIR: dir,
    IDENTITY_SECRET: SECRET,
    UPSTREAM_URLS: 'http://a:3000, http://b:3000',
    TENANT_PLANS: 'acme=pro,globex=enterprise',
    RATE_LIMIT_WINDOW_SECONDS: '30',
    AUTH_CACHE_TTL_SECONDS: '5',
    RATE_LIMIT_FAIL_OPEN: 'false',
  })
  t.same(
    config.upstreams.map(url => url.origin),
    ['http://a:3000', 'http://b:3000'],
  )
  t.same(
    [...config.rateLimit.tenantPlans],
    [
      ['acme', 'pro'],
      ['globex', 'enterprise'],
    ],
  )
  t.equal(config.rateLimit.windowMs, 30_000)
  t.equal(config.rateLimit.failOpen, false)
  t.equal(config.auth.cacheTtlMs, 5000)
  t.same(config.tenantFacts, { ttlMs: 5000, maxEntries: 10_000, timeoutMs: 2000 }, 'tenant facts kept 5 s by default')
  t.same(
    loadProxyConfig({
      DATA_DIR: dir,
      IDENTITY_SECRET: SECRET,
      TENANT_FACTS_TTL_SECONDS: '2',
      TENANT_FACTS_MAX_ENTRIES: '500',
    }).tenantFacts,
    { ttlMs: 2000, maxEntries: 500, timeoutMs: 2000 },
  )
  t.same(config.tls, { kind: 'local-ca', dir: join(dir, 'tls'), hostnames: ['localhost', '127.0.0.1', '::1'] })
  t.equal(config.auth.htpasswdFile, join(dir, 'htpasswd'))
  t.equal(config.auth.htpasswdPollMs, 1000, 'the logins file checked every second by default')
  t.equal(loadProxyConfig({ DATA_DIR: dir, IDENTITY_SECRET: SECRET, HTPASSWD_POLL_MS: '50' }).auth.htpasswdPollMs, 50)
  t.same(
    config.clientTimeouts,
    { headersMs: 10_000, requestMs: 60_000, keepAliveMs: 60_000 },
    'client deadlines by default',
  )
  t.same(
    loadProxyConfig({
      DATA_DIR: dir,
      IDENTITY_SECRET: SECRET,
      HEADERS_TIMEOUT_MS: '1000',
      REQUEST_TIMEOUT_MS: '3000',
      KEEP_ALIVE_TIMEOUT_MS: '1500',
    }).clientTimeouts,
    { headersMs: 1000, requestMs: 3000, keepAliveMs: 1500 },
  )
  t.equal(config.workers, 1, 'one process unless asked')
  t.equal(loadProxyConfig({ DATA_DIR: dir, IDENTITY_SECRET: SECRET, PROXY_WORKERS: '3' }).workers, 3)
  t.equal(
    loadProxyConfig({ DATA_DIR: dir, IDENTITY_SECRET: SECRET, PROXY_WORKERS: 'auto' }).workers,
    availableParallelism(),
    'auto: one per CPU',
  )
  t.equal(config.portSharing, process.platform === 'linux' ? 'kernel' : 'primary', 'workers: the kernel on Linux')
  const sharing = (env: Record<string, string>, platform: NodeJS.Platform) =>
    loadProxyConfig({ DATA_DIR: dir, IDENTITY_SECRET: SECRET, ...env }, platform).portSharing
  t.equal(sharing({}, 'darwin'), 'primary', 'elsewhere node:cluster hands connections over')
  t.equal(sharing({ PROXY_PORT_SHARING: 'primary' }, 'linux'), 'primary', 'or when asked to')
  t.throws(() => sharing({ PROXY_PORT_SHARING: 'kernel' }, 'win32'), /- PROXY_PORT_SHARING: "kernel" needs Linux/)

  const generated = loadProxyConfig({ DATA_DIR: dir })
  t.ok(generated.identitySecret.length >= 32, 'without IDENTITY_SECRET a development secret is made in DATA_DIR')
  t.equal(loadProxyConfig({ DATA_DIR: dir }).identitySecret, generated.identitySecret, 'and kept')
})

t.test('PROXY_CONFIG_FILE: settings from JSON, the environment wins, unknown keys refused', async t => {
  const dir = tempDir(t)
  const file = join(dir, 'proxy.json')
  writeFileSync(
    file,
    JSON.stringify({
      RATE_LIMIT_FREE: 42,
      UPSTREAM_TIMEOUT_MS: 1500,
      REDIS_URL: 'redis://cache:6379',
      RATE_LIMIT_FAIL_OPEN: false,
    }),
  )
  const config = loadProxyConfig({
    PROXY_CONFIG_FILE: file,
    IDENTITY_SECRET: SECRET,
    DATA_DIR: dir,
    UPSTREAM_TIMEOUT_MS: '2500',
  })
  t.equal(config.rateLimit.perPlan.free, 42, 'from the file')
  t.equal(config.redisUrl, 'redis://cache:6379')
  t.equal(config.rateLimit.failOpen, false, 'JSON booleans work')
  t.equal(config.upstream.timeoutMs, 2500, 'the environment overrides the file')

  writeFileSync(file, JSON.stringify({ RATE_LIMIT_FREE: 1, RATE_LIMT_PRO: 5 }))
  t.same(problemsOf({ PROXY_CONFIG_FILE: file }), [`RATE_LIMT_PRO (in ${file}): not a proxy setting`])

  writeFileSync(file, JSON.stringify({ RATE_LIMIT_FREE: 'lots' }))
  t.match(problemsOf({ PROXY_CONFIG_FILE: file }), [/^RATE_LIMIT_FREE: /], 'a bad value in the file names the setting')

  writeFileSync(file, '[1, 2]')
  t.match(problemsOf({ PROXY_CONFIG_FILE: file }), [/PROXY_CONFIG_FILE: .* must hold a JSON object/])
  writeFileSync(file, '{ not json')
  t.match(problemsOf({ PROXY_CONFIG_FILE: file }), [/^PROXY_CONFIG_FILE: cannot read /])
  t.throws(
    () => loadProxyConfig({ PROXY_CONFIG_FILE: join(dir, 'missing.json'), IDENTITY_SECRET: SECRET }),
    ConfigError,
  )
})

t.test('compression settings: on by default, zstd then Brotli then gzip at level 1, from 1 KiB', async t => {
  const dir = tempDir(t)
  t.same(loadProxyConfig({ IDENTITY_SECRET: SECRET, DATA_DIR: dir }).compression, {
    enabled: true,
    encodings: ['zstd', 'br', 'gzip'],
    levels: { gzip: 1, br: 1, zstd: 1 },
    minBytes: 1024,
  })
  const chosen = loadProxyConfig({
    IDENTITY_SECRET: SECRET,
    DATA_DIR: dir,
    COMPRESSION: 'false',
    COMPRESSION_ENCODINGS: 'gzip',
    COMPRESSION_GZIP_LEVEL: '6',
    COMPRESSION_MIN_BYTES: '0',
  }).compression
  t.same(chosen, { enabled: false, encodings: ['gzip'], levels: { gzip: 6, br: 1, zstd: 1 }, minBytes: 0 })
})
