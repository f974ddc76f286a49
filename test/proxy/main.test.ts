// The proxy as operators run it: the real process with its own ports, in front of a real API. On first
// start it creates the local CA and says how to trust it; it serves HTTPS, redirects plain HTTP,
// exposes metrics on the internal port, and exits 0 on SIGTERM; the next start reuses the CA quietly.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'
import { eventually, freePort } from '../helpers/edge-stack.ts'

function startProxy(env: Record<string, string>) {
  const child = spawn(process.execPath, ['proxy/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = { stdout: '', stderr: '' }
  child.stdout.on('data', chunk => {
    output.stdout += String(chunk)
  })
  child.stderr.on('data', chunk => {
    output.stderr += String(chunk)
  })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  return { child, output, exited }
}

forEachBackend(t, async (t, backend) => {
  const api = await buildTestApp(t, backend)
  await api.listen({ host: '127.0.0.1', port: 0 })
  const tenant = await backend.createTenant()
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-main-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  writeFileSync(join(dataDir, 'htpasswd'), `ops@${tenant.slug}:${await hashPassword('ops-password', 4)}\n`)
  const [https, http, metrics] = [await freePort(), await freePort(), await freePort()]
  const env = {
    DATA_DIR: dataDir,
    PROXY_HTTPS_PORT: String(https),
    PROXY_HTTP_PORT: String(http),
    PROXY_METRICS_PORT: String(metrics),
    UPSTREAM_URLS: `http://127.0.0.1:${(api.server.address() as { port: number }).port}`,
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_MS: '20000',
  }

  const first = startProxy(env)
  t.teardown(() => {
    if (first.child.exitCode === null) first.child.kill('SIGKILL')
  })
  await eventually(
    async () => first.output.stdout.includes('gatehouse proxy ready') || first.child.exitCode !== null,
    20_000,
    'the proxy starting',
  )
  t.equal(first.child.exitCode, null, first.output.stderr)
  t.match(first.output.stderr, `curl --cacert ${join(dataDir, 'tls', 'ca.crt')}`, 'first start: how to trust the CA')
  t.match(first.output.stdout, /"msg":"gatehouse proxy ready"/, 'JSON logs')

  const ca = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8')
  const agent = new Agent({ connect: { ca, servername: 'localhost' }, allowH2: true })
  t.teardown(() => agent.close())
  const health = await request(`https://127.0.0.1:${https}/health`, { dispatcher: agent })
  t.equal(health.statusCode, 200)
  await health.body.dump()
  const authorization = `Basic ${Buffer.from(`ops@${tenant.slug}:ops-password`).toString('base64')}`
  const projects = await request(`https://127.0.0.1:${https}/api/v1/projects`, {
    dispatcher: agent,
    headers: { authorization },
  })
  t.equal(projects.statusCode, 200, 'through to the API, trusting only the CA it printed')
  t.same(await projects.body.json(), { data: [], next: null })
  const redirect = await request(`http://127.0.0.1:${http}/api/v1/projects?x=1`, { headers: { host: 'localhost' } })
  await redirect.body.dump()
  t.equal(redirect.statusCode, 308)
  t.equal(redirect.headers.location, `https://localhost:${https}/api/v1/projects?x=1`)
  const scraped = await request(`http://127.0.0.1:${metrics}/metrics`)
  t.match(await scraped.body.text(), /gatehouse_proxy_requests_total\{http_version="2\.0"/)

  const h1 = new Agent({ connect: { ca, servername: 'localhost' }, allowH2: false })
  t.teardown(() => h1.close())
  const overH1 = await request(`https://127.0.0.1:${https}/health`, { dispatcher: h1 })
  await overH1.body.dump()
  t.equal(overH1.statusCode, 200)

  // Both agents keep their connections open and idle: shutdown must not wait for the clients to leave.
  const stopping = Date.now()
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'SIGTERM: a clean exit')
  t.ok(Date.now() - stopping < 10_000, 'promptly, not at the end of the 20 s grace period')

  const second = startProxy(env)
  t.teardown(() => {
    if (second.child.exitCode === null) second.child.kill('SIGKILL')
  })
  await eventually(
    async () => second.output.stdout.includes('gatehouse proxy ready') || second.child.exitCode !== null,
    20_000,
    'the second start',
  )
  t.notMatch(second.output.stderr, /Trust it once/, 'the CA is reused, so nothing new to trust')
  t.equal(readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8'), ca, 'same CA')
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)

  const broken = startProxy({ ...env, PROXY_HTTPS_PORT: 'https' })
  t.equal(await broken.exited, 78, 'a bad setting: exit 78')
  t.match(broken.output.stderr, /PROXY_HTTPS_PORT: /)
})
