// compose.yaml's wiring, checked the way the processes will read it: the file interpolated with the .env
// scripts/generate-env.sh writes, each app container's environment loaded by the real config loaders, and
// every name and port that one service uses to reach another resolved against the other's definition.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadOperatorEnv } from '../../server/db/operator-session.ts'
import { APP_ROLE } from '../../server/db/embedded.ts'
import { loadServerConfig, ServerEnvSchema } from '../../server/config.ts'
import { loadProxyConfig, ProxyEnvSchema } from '../../proxy/config.ts'
import { readText, readYaml, repoPath } from '../ops/ops-helpers.ts'
import { generatedProject, interpolate, interpolated, networksOf, rawCompose, type Service } from './compose-helpers.ts'

const project = generatedProject(t)
const compose = interpolated(project.env)
const services = compose.services
/** The services that run `script` with node (whatever node flags come before it). */
const byCommand = (script: string): string[] =>
  Object.keys(services).filter(name => {
    const command = services[name]!.command
    return command?.[0] === 'node' && command.at(-1) === script
  })
const apis = byCommand('dist/server/main.js')
const [proxyName] = byCommand('dist/proxy/main.js')
const proxy = services[proxyName!]!

/** Ports a service listens on inside its container. */
function listens(name: string): Set<string> {
  const service = services[name]!
  const ports = new Set<string>([
    ...(service.expose ?? []),
    ...(service.ports ?? []).map(port => port.split(':').at(-1)!),
  ])
  for (const key of ['PORT', 'PROXY_HTTPS_PORT', 'PROXY_HTTP_PORT', 'PROXY_METRICS_PORT']) {
    const value = service.environment?.[key]
    if (value !== undefined) ports.add(value)
  }
  return ports
}
const shareNetwork = (a: string, b: string): boolean =>
  networksOf(services[a]!).some(network => networksOf(services[b]!).includes(network))

/** `from` reaches `host:port`: a service of that name listens there on a network both are on. */
function reaches(t: Test, from: string, hostPort: string): void {
  const [host, port] = hostPort.split(':')
  if (host === 'localhost') {
    t.ok(listens(from).has(port!), `${from} → itself on ${port}`)
    return
  }
  t.ok(host! in services, `${from} → ${host}: a service`)
  if (!(host! in services)) return
  t.ok(
    listens(host!).has(port!),
    `${from} → ${host}:${port}: ${host} listens on ${port} (${[...listens(host!)].join(', ')})`,
  )
  t.ok(shareNetwork(from, host!), `${from} and ${host} share a network`)
}

t.test('generate-env.sh writes every variable compose.yaml requires, and interpolation succeeds', async t => {
  const text = readText('compose.yaml')
  for (const [, name] of text.matchAll(/\$\{([A-Z_][A-Z0-9_]*):\?/g)) t.ok(name! in project.env, `${name} is generated`)
  t.throws(
    () => interpolated({}),
    /is required: run scripts\/generate-env\.sh/,
    'without it, compose refuses to start (as ${VAR:?} makes it)',
  )
  t.equal(interpolate('a$${B}c', {}), 'a${B}c')
  for (const value of Object.values(project.env)) {
    t.notMatch(value, /[\s'"$@:/]/, 'values need no quoting in URLs or YAML')
  }
})

t.test('depends_on, networks and volumes all resolve', async t => {
  for (const [name, service] of Object.entries(services)) {
    for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
      t.ok(target in services, `${name} depends on ${target}, which exists`)
      const other = services[target]!
      if (condition === 'service_healthy') {
        const ownCheck = other.healthcheck !== undefined && other.healthcheck.disable !== true
        const imageCheck = other.image === 'gatehouse:0.1.0' && other.healthcheck?.disable !== true
        t.ok(ownCheck || imageCheck, `${name} waits for ${target} to be healthy: ${target} has a health check`)
      }
      if (condition === 'service_completed_successfully') {
        t.equal((other as { restart?: string }).restart, 'no', `${target} is a one-shot`)
      }
    }
    for (const network of networksOf(service)) {
      t.ok(network in compose.networks, `${name}: network ${network} is declared`)
    }
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0]!
      if (source.startsWith('./.data/')) {
        t.ok(existsSync(join(project.dir, source)), `${name}: ${source} is made by generate-env.sh`)
      } else if (source.startsWith('./')) {
        t.ok(existsSync(repoPath(source)), `${name}: ${source} exists in the repository`)
      } else t.ok(source in compose.volumes, `${name}: volume ${source} is declared`)
    }
  }
  for (const api of apis) {
    t.same(
      services[api]!.depends_on?.migrate,
      { condition: 'service_completed_successfully' },
      `${api} starts after the migration`,
    )
  }
})

// Settings with neither a default nor a value are where a container silently falls back to development
// behaviour (a per-container generated secret, PGlite, a local CA): each must be set in compose.
const unsetAllowed = (schema: { properties: object; required?: readonly string[] }): string[] =>
  Object.entries(schema.properties as Record<string, { default?: unknown }>)
    .filter(([key, property]) => !(schema.required ?? []).includes(key) && property.default === undefined)
    .map(([key]) => key)

t.test('the API replicas: their environment loads, on Postgres as the app role, with the shared secret', async t => {
  t.ok(apis.length >= 2, `two API replicas (${apis.join(', ')})`)
  t.same(
    unsetAllowed(ServerEnvSchema),
    ['DATABASE_URL', 'IDENTITY_SECRET', 'TRUST_PROXY', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    'the settings without a default, as the schema says',
  )
  for (const name of apis) {
    const env = services[name]!.environment!
    for (const key of unsetAllowed(ServerEnvSchema)) t.ok(key in env, `${name}: ${key} is set`)
    for (const key of Object.keys(env)) {
      t.ok(key in ServerEnvSchema.properties, `${name}: ${key} is a setting of the API`)
    }
    const config = loadServerConfig(env)
    t.equal(config.database.kind, 'postgres')
    const url = new URL(config.database.kind === 'postgres' ? config.database.url : '')
    t.equal(url.username, APP_ROLE)
    t.equal(`${url.hostname}:${url.port}`, 'postgres:5432')
    reaches(t, name, 'postgres:5432')
    t.equal(url.pathname, `/${services.postgres!.environment!.POSTGRES_DB}`)
    t.equal(config.identity.secret, proxy.environment!.IDENTITY_SECRET, `${name} verifies what the proxy signs`)
    t.same(
      config.trustProxy,
      [(proxy.networks as Record<string, { ipv4_address?: string }>).backend!.ipv4_address],
      `${name} trusts forwarding from the proxy only`,
    )
    t.same(services[name]!.healthcheck!.test, [
      'CMD',
      'node',
      'ops/docker/healthcheck.mjs',
      `http://127.0.0.1:${config.port}/ready`,
    ])
  }
})

t.test('the migration runs as the owner and sets the password the replicas use', async t => {
  const migrate = services.migrate!
  t.same(migrate.command, ['node', 'dist/scripts/db-migrate.js'])
  t.ok(
    existsSync(repoPath('scripts/db-migrate.ts')) && readYaml('tsconfig.build.json').include.includes('scripts'),
    'the build compiles scripts/db-migrate.ts',
  )
  const env = loadOperatorEnv(migrate.environment!)
  const owner = new URL(env.DATABASE_OWNER_URL!)
  t.equal(owner.username, services.postgres!.environment!.POSTGRES_USER)
  t.equal(owner.password, services.postgres!.environment!.POSTGRES_PASSWORD)
  reaches(t, 'migrate', `${owner.hostname}:${owner.port}`)
  for (const api of apis) {
    t.equal(env.DATABASE_URL, services[api]!.environment!.DATABASE_URL, `the app role password matches ${api}'s`)
  }
})

t.test(
  'the proxy: its environment loads, forwards to every API replica, and uses the mounted files and Redis',
  async t => {
    const env = proxy.environment!
    t.ok(
      ['TLS_CERT_FILE', 'IDENTITY_SECRET', 'REDIS_URL', 'HTPASSWD_FILE'].every(key =>
        unsetAllowed(ProxyEnvSchema).includes(key),
      ),
    )
    for (const key of unsetAllowed(ProxyEnvSchema)) t.ok(key in env, `proxy: ${key} is set`)
    for (const key of Object.keys(env)) {
      t.ok(key in ProxyEnvSchema.properties, `proxy: ${key} is a setting of the proxy`)
    }
    const config = loadProxyConfig(env)
    t.same(
      config.upstreams.map(url => url.host).sort(),
      apis.map(api => `${api}:${services[api]!.environment!.PORT}`).sort(),
      'UPSTREAM_URLS lists each replica and its port',
    )
    for (const upstream of config.upstreams) reaches(t, proxyName!, upstream.host)
    t.equal(config.tls.kind, 'files')
    const mounted = (path: string): boolean =>
      (proxy.volumes ?? []).some(volume => path.startsWith(volume.split(':')[1]!))
    if (config.tls.kind === 'files') {
      t.ok(mounted(config.tls.certFile) && mounted(config.tls.keyFile), 'certificate and key are mounted files')
    }
    t.ok(mounted(config.auth.htpasswdFile), 'htpasswd is mounted')
    const redis = new URL(config.redisUrl!)
    reaches(t, proxyName!, `${redis.hostname}:${redis.port}`)
    t.equal(redis.password, project.env.REDIS_PASSWORD)
    t.ok(
      services.redis!.command!.join(' ').includes(`--requirepass ${project.env.REDIS_PASSWORD}`),
      'Redis requires that password',
    )
    t.same(proxy.ports, [`443:${config.httpsPort}`, `80:${config.httpPort}`])
    t.equal(config.publicHttpsPort, 443, 'redirects name the published port')
  },
)

t.test('every scrape, alerting, data source, exporter, tracing and logging address resolves', async t => {
  const prometheus = readYaml('ops/prometheus/prometheus.yml')
  for (const job of prometheus.scrape_configs) {
    for (const target of job.static_configs.flatMap((config: { targets: string[] }) => config.targets)) {
      reaches(t, 'prometheus', target)
    }
  }
  for (const target of prometheus.alerting.alertmanagers[0].static_configs[0].targets) reaches(t, 'prometheus', target)
  t.same(
    prometheus.scrape_configs
      .find((job: { job_name: string }) => job.job_name === 'api')
      .static_configs[0].targets.sort(),
    apis.map(api => `${api}:${services[api]!.environment!.PORT}`).sort(),
    'every API replica is scraped',
  )
  t.ok(
    prometheus.scrape_configs.some((job: { static_configs: Array<{ targets: string[] }> }) =>
      job.static_configs[0]!.targets.includes(`${proxyName}:${proxy.environment!.PROXY_METRICS_PORT}`),
    ),
    'the proxy metrics port is scraped',
  )

  for (const source of readYaml('ops/grafana/provisioning/datasources/prometheus.yml').datasources) {
    reaches(t, 'grafana', new URL(source.url).host)
  }
  const pg = new URL(services['postgres-exporter']!.environment!.DATA_SOURCE_NAME!)
  reaches(t, 'postgres-exporter', `${pg.hostname}:${pg.port}`)
  reaches(t, 'redis-exporter', new URL(services['redis-exporter']!.environment!.REDIS_ADDR!).host)
  for (const name of [...apis, proxyName!]) {
    reaches(t, name, new URL(services[name]!.environment!.OTEL_EXPORTER_OTLP_ENDPOINT!).host)
  }

  const forwardPort = String(readYaml('ops/fluent-bit/fluent-bit.yaml').pipeline.inputs[0].port)
  const logged = Object.entries(services).filter(([, service]) => service.logging !== undefined)
  t.ok(logged.length >= 4)
  for (const [name, service] of logged) {
    t.equal(service.logging!.driver, 'fluentd')
    // The Docker daemon (on the host) connects, so Fluent Bit's port is published on host loopback.
    t.equal(service.logging!.options['fluentd-address'], `127.0.0.1:${forwardPort}`, `${name} logs reach Fluent Bit`)
  }
  t.ok(services['fluent-bit']!.ports!.includes(`127.0.0.1:${forwardPort}:${forwardPort}`))
  t.equal(services['fluent-bit']!.logging, undefined, 'Fluent Bit does not ship its own logs to itself')
})

t.test('images pinned, the app image built once from this repository, operator ports on loopback', async t => {
  for (const [name, service] of Object.entries(rawCompose().services) as Array<[string, Service]>) {
    t.match(service.image, /^[\w./-]+:v?\d+(\.\d+)+(-[\w.]+)?$/, `${name}: ${service.image} is pinned to a version`)
    if (service.image!.startsWith('gatehouse:')) t.same(service.build, { context: '.', dockerfile: 'Dockerfile' })
    for (const port of service.ports ?? []) {
      if (name !== proxyName) t.match(port, /^127\.0\.0\.1:/, `${name}: ${port} is published on loopback only`)
    }
  }
  const scripts = readYaml('package.json').scripts
  t.equal(`node ${services[apis[0]!]!.command!.slice(1).join(' ')}`, scripts.start, 'the API runs what npm start runs')
  t.equal(
    `node ${proxy.command!.slice(1).join(' ')}`,
    scripts['start:proxy'],
    'the proxy runs what npm run start:proxy runs',
  )
})
