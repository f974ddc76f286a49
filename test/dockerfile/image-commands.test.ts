// The image's commands, run as the image runs them: `npm run build`'s compiler on tsconfig.build.json,
// then plain `node dist/…` for the migrate service, an operator's tenant-add, the API and the proxy,
// with the environment compose gives each (loopback instead of docker networking), on real Postgres and
// Redis when the suite has them. dockerfile.test.ts checks the Dockerfile's text; this checks that what
// it builds actually starts, serves through the edge over TLS and stops cleanly.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { upsertLogin } from '../../proxy/auth/htpasswd-file.ts'
import { postgresUrls } from '../helpers/backends.ts'
import { freePort } from '../helpers/edge-stack.ts'
import { runImageCommand, startImageProcess, until } from './fixtures/image-process.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const ENTRIES = ['server/main.js', 'proxy/main.js', 'scripts/db-migrate.js', 'scripts/tenant-add.js']

// The runtime stage's /app: package.json ("type": "module"), dist/, prisma/migrations and the health check
// script, as the Dockerfile copies them. It sits under the git-ignored .scratch/ so that node_modules
// resolves from the repository, as /app/node_modules does in the image. The folder depth matters:
// dist/server/db/migrate.js finds prisma/migrations two or three levels up from itself, so compiling
// straight to .scratch/dist-x would leave the migration looking in .scratch/.
const app = join(ROOT, '.scratch', `image-${randomBytes(5).toString('hex')}`)
mkdirSync(app, { recursive: true })
t.teardown(() => rmSync(app, { recursive: true, force: true }))
// tsc prints its diagnostics on stdout: a build that fails fails the file with them, and nothing else runs.
const build = await promisify(execFile)(
  process.execPath,
  [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')],
  { cwd: ROOT, timeout: 90_000 },
).then(
  () => undefined,
  (error: { code?: number; stdout?: string; message: string }) => error,
)
if (build !== undefined) {
  t.fail('npm run build (tsc -p tsconfig.build.json) fails', {
    exitCode: build.code,
    output: build.stdout || build.message,
  })
} else {
  copyFileSync(join(ROOT, 'package.json'), join(app, 'package.json'))
  cpSync(join(ROOT, 'prisma', 'migrations'), join(app, 'prisma', 'migrations'), { recursive: true })
  mkdirSync(join(app, 'ops', 'docker'), { recursive: true })
  copyFileSync(join(ROOT, 'ops', 'docker', 'healthcheck.mjs'), join(app, 'ops', 'docker', 'healthcheck.mjs'))

  t.test(
    'the build emits every command the image and operators run, and the generated Prisma client with them',
    async t => {
      for (const entry of ENTRIES) t.ok(existsSync(join(app, 'dist', entry)), `dist/${entry}`)
      t.ok(
        existsSync(join(app, 'dist', 'server', 'db', 'generated', 'client.js')),
        'dist/server/db/generated/client.js: the image ships no other copy of the client',
      )
      const probe =
        'const m = await import("./dist/server/db/generated/client.js"); process.stdout.write(typeof m.PrismaClient)'
      const loaded = await runImageCommand(t, app, ['--input-type=module', '-e', probe], {})
      t.equal(loaded.code, 0, 'the generated client imports under plain node', { stderr: loaded.stderr })
      t.equal(loaded.stdout, 'function', 'plain node loads the compiled client (relative .js imports, ESM)')
    },
  )

  t.test('node dist/server/main.js: the compiled module graph loads and reaches config validation', async t => {
    const dataDir = scratchDir(t, 'gatehouse-image-')
    const result = await runImageCommand(t, app, ['dist/server/main.js'], { PORT: 'abc', DATA_DIR: dataDir })
    t.equal(result.code, 78, 'EX_CONFIG: the whole module graph was imported before the setting was refused', {
      stderr: result.stderr,
    })
    t.match(
      result.stderr,
      /^gatehouse api: Invalid configuration:\n\s+- PORT: must be integer \(got "abc"\)$/m,
      'the message names the bad setting',
    )
  })

  const urls = postgresUrls()
  if (urls !== undefined) {
    t.test(
      'postgres and redis: migrate, tenant-add, API and proxy from dist/, serving over TLS, stopping on SIGTERM',
      t => imageStack(t, urls),
    )
  }
}

/** A collector standing in for Jaeger's OTLP/HTTP port: keeps the JSON bodies posted to /v1/traces. */
async function otlpCollector(t: Test): Promise<{ url: string; services: () => Map<string, Set<string>> }> {
  const bodies: unknown[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let body = ''
    req
      .setEncoding('utf8')
      .on('data', (chunk: string) => {
        body += chunk
      })
      .on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') {
          try {
            bodies.push(JSON.parse(body))
          } catch {}
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  // service.name → the trace ids it exported
  const services = (): Map<string, Set<string>> => {
    const found = new Map<string, Set<string>>()
    for (const body of bodies as Array<{ resourceSpans?: any[] }>) {
      for (const resource of body.resourceSpans ?? []) {
        const name =
          resource.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue ?? '?'
        const ids = found.get(name) ?? new Set<string>()
        for (const scope of resource.scopeSpans ?? []) for (const span of scope.spans ?? []) ids.add(span.traceId)
        found.set(name, ids)
      }
    }
    return found
  }
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, services }
}

async function ownerQuery<Row>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as Row[]
  } finally {
    await client.end()
  }
}

async function imageStack(t: Test, urls: { app: string; owner: string }): Promise<void> {
  // A database of its own: the migrate service must meet an empty one, as on a first `compose up`.
  const name = `gatehouse_image_${randomBytes(5).toString('hex')}`
  await ownerQuery(urls.owner, `CREATE DATABASE ${name}`)
  t.teardown(() => ownerQuery(urls.owner, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  const onDatabase = (base: string): string => {
    const url = new URL(base)
    url.pathname = `/${name}`
    return url.toString()
  }
  const ownerUrl = onDatabase(urls.owner)
  const appUrl = onDatabase(urls.app)
  const identitySecret = randomBytes(32).toString('hex')
  const otlp = await otlpCollector(t)

  // migrate service: DATABASE_OWNER_URL and DATABASE_URL, nothing else.
  const migrateEnv = { DATABASE_OWNER_URL: ownerUrl, DATABASE_URL: appUrl }
  const first = await runImageCommand(t, app, ['dist/scripts/db-migrate.js'], migrateEnv)
  t.equal(first.code, 0, 'first migration on an empty database', { stderr: first.stderr })
  const shipped = readdirNames(join(app, 'prisma', 'migrations')).sort()
  t.ok(shipped.length > 0)
  for (const migration of shipped) {
    t.match(first.stdout, `applied ${migration}\n`, `${migration} applied from the image's prisma/migrations`)
  }
  const recorded = await ownerQuery<{ name: string }>(
    ownerUrl,
    'SELECT migration_name AS name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name',
  )
  t.same(
    recorded.map(row => row.name),
    shipped,
    'each recorded as finished',
  )
  const again = await runImageCommand(t, app, ['dist/scripts/db-migrate.js'], migrateEnv)
  t.equal(again.code, 0, 'second migration (the migrate service runs on every `compose up`)', { stderr: again.stderr })
  t.match(again.stdout, ` 0 applied, ${shipped.length} already applied`, 'idempotent: nothing applied twice')
  if (first.code !== 0 || again.code !== 0) return

  const added = await runImageCommand(t, app, ['dist/scripts/tenant-add.js', 'acme', '--plan', 'pro'], {
    DATABASE_OWNER_URL: ownerUrl,
  })
  t.equal(added.code, 0, 'tenant-add acme --plan pro', { stderr: added.stderr })
  t.same(await ownerQuery(ownerUrl, 'SELECT slug, plan::text FROM tenants'), [{ slug: 'acme', plan: 'pro' }])

  // api service, with its compose environment; TRUST_PROXY is the proxy's address, here loopback, and
  // DATA_DIR (the image's /data volume) a temporary folder.
  const apiPort = await freePort()
  const api = startImageProcess(t, app, ['dist/server/main.js'], {
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    LOG_LEVEL: 'info',
    DATA_DIR: scratchDir(t, 'gatehouse-image-api-'),
    DATABASE_URL: appUrl,
    IDENTITY_SECRET: identitySecret,
    TRUST_PROXY: '127.0.0.1',
    GRAPHIQL: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  })
  await until(
    async () => {
      const ready = await request(`http://127.0.0.1:${apiPort}/ready`)
      await ready.body.dump()
      return ready.statusCode === 200
    },
    api,
    'the API answering /ready with 200',
  )
  t.match(api.stdout(), /"msg":"gatehouse api ready"/)
  t.match(api.stdout(), /"database":"postgres"/, 'on Postgres, not the embedded fallback')
  const apiHealth = await runImageCommand(
    t,
    app,
    ['ops/docker/healthcheck.mjs', `http://127.0.0.1:${apiPort}/ready`],
    {},
  )
  t.equal(apiHealth.code, 0, "compose's API health check passes", { stderr: apiHealth.stderr })

  // proxy service: a generated local CA in DATA_DIR instead of the mounted certificate.
  const proxyData = scratchDir(t, 'gatehouse-image-proxy-')
  const htpasswd = join(proxyData, 'htpasswd')
  await upsertLogin(htpasswd, 'alice@acme', 'alice-password')
  const [https, http, metrics] = [await freePort(), await freePort(), await freePort()]
  const proxy = startImageProcess(t, app, ['dist/proxy/main.js'], {
    PROXY_HOST: '127.0.0.1',
    PROXY_HTTPS_PORT: String(https),
    PROXY_HTTP_PORT: String(http),
    PROXY_PUBLIC_HTTPS_PORT: String(https),
    PROXY_METRICS_HOST: '127.0.0.1',
    PROXY_METRICS_PORT: String(metrics),
    PROXY_HOSTNAMES: 'localhost',
    DATA_DIR: proxyData,
    HTPASSWD_FILE: htpasswd,
    UPSTREAM_URLS: `http://127.0.0.1:${apiPort}`,
    IDENTITY_SECRET: identitySecret,
    REDIS_URL: 'redis://127.0.0.1:6379',
    LOG_LEVEL: 'info',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  })
  await until(async () => proxy.stdout().includes('"msg":"gatehouse proxy ready"'), proxy, 'the proxy logging ready')
  const proxyHealth = await runImageCommand(
    t,
    app,
    ['ops/docker/healthcheck.mjs', `http://127.0.0.1:${http}/health`],
    {},
  )
  t.equal(proxyHealth.code, 0, "the image's proxy health check (plain HTTP /health) passes", {
    stderr: proxyHealth.stderr,
  })

  const agent = new Agent({
    connect: { ca: readFileSync(join(proxyData, 'tls', 'ca.crt'), 'utf8'), servername: 'localhost' },
    allowH2: true,
  })
  t.teardown(() => agent.close())
  const authorization = `Basic ${Buffer.from('alice@acme:alice-password').toString('base64')}`
  const created = await request(`https://127.0.0.1:${https}/api/v1/projects`, {
    dispatcher: agent,
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Built image' }),
  })
  const project = (await created.body.json()) as { id: string; name: string }
  t.equal(created.statusCode, 201, 'POST /api/v1/projects through the edge', { body: project })
  t.equal(project.name, 'Built image')
  const listed = await request(`https://127.0.0.1:${https}/api/v1/projects`, {
    dispatcher: agent,
    headers: { authorization },
  })
  const page = (await listed.body.json()) as { data: Array<{ id: string; name: string }>; next: string | null }
  t.equal(listed.statusCode, 200, 'GET /api/v1/projects through the edge', { body: page })
  t.same(
    page.data.map(entry => [entry.id, entry.name]),
    [[project.id, 'Built image']],
    'the project, through the edge, for alice@acme',
  )
  t.same(
    await ownerQuery(ownerUrl, 'SELECT p.id::text AS id, t.slug FROM projects p JOIN tenants t ON t.id = p.tenant_id'),
    [{ id: project.id, slug: 'acme' }],
    "written by the app role under acme's tenant id",
  )

  let scraped = ''
  await until(
    async () => {
      const response = await request(`http://127.0.0.1:${metrics}/metrics`)
      scraped = await response.body.text()
      return response.statusCode === 200 && /^gatehouse_proxy_redis_up 1$/m.test(scraped)
    },
    proxy,
    'the metrics port showing gatehouse_proxy_redis_up 1',
    10_000,
  )
  t.match(scraped, /^gatehouse_proxy_redis_up 1$/m, 'the proxy reaches Redis')

  const proxyExit = (proxy.child.kill('SIGTERM'), await proxy.exited)
  t.same(proxyExit, { code: 0, signal: null }, 'proxy: SIGTERM, then exit 0', { stderr: proxy.stderr() })
  const apiExit = (api.child.kill('SIGTERM'), await api.exited)
  t.same(apiExit, { code: 0, signal: null }, 'API: SIGTERM, then exit 0', { stderr: api.stderr() })

  // Both flush their spans on the way out, to the endpoint compose configures.
  const services = otlp.services()
  t.ok(
    services.has('gatehouse-api') && services.has('gatehouse-proxy'),
    `both services exported traces: ${[...services.keys()].join(', ')}`,
  )
  const shared = [...(services.get('gatehouse-proxy') ?? [])].filter(id => services.get('gatehouse-api')?.has(id))
  t.ok(shared.length > 0, "the API's spans join the proxy's traces (trace context crosses the edge)")
}

function scratchDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function readdirNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter(entry => entry.isDirectory())
    .map(entry => entry.name)
}
