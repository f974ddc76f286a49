// npm run dev: one command starts the API (embedded PGlite, demo tenants) and the proxy (local CA, demo
// logins), prints where they are and how to log in, serves a demo login's data through the edge, and
// Ctrl-C (SIGINT) stops both.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { eventually, freePort } from '../helpers/edge-stack.js'

t.test('npm run dev runs both processes, serves the demo tenants through the edge, and stops on Ctrl-C', { timeout: 150_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-dev-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const [api, https, http, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const child = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/dev.ts'], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME,
      DATA_DIR: dataDir, PORT: String(api), PROXY_HTTPS_PORT: String(https), PROXY_HTTP_PORT: String(http), PROXY_METRICS_PORT: String(metrics),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  await eventually(async () => output.includes('Ctrl-C stops everything'), 30_000, 'the banner')
  t.match(output, `https://localhost:${https}/graphiql`, 'prints the GraphiQL URL')
  t.match(output, 'alice@acme / alice-demo-password', 'prints the demo logins')

  let dispatcher: Agent | undefined
  let status = 0
  let body = ''
  await eventually(async () => {
    try {
      dispatcher ??= new Agent({ connect: { ca: readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8'), servername: 'localhost' } })
      const response = await request(`https://127.0.0.1:${https}/api/v1/projects`, {
        dispatcher, headers: { authorization: `Basic ${Buffer.from('alice@acme:alice-demo-password').toString('base64')}` },
      })
      status = response.statusCode
      body = await response.body.text()
      return status === 200
    } catch {
      return false
    }
  }, 90_000, 'acme\'s projects through the edge')
  t.equal(status, 200)
  t.ok(JSON.parse(body).data.length > 0, 'the demo tenant comes with data')
  t.match(output, /^api {2}\| /m, 'API lines are prefixed')
  t.match(output, /^proxy\| /m, 'proxy lines are prefixed')
  await dispatcher?.close()

  child.kill('SIGINT')
  t.equal(await exited, 0, 'Ctrl-C: both stop and dev exits cleanly')
  t.match(output, /api {2}\| exited/, 'the API stopped')
  t.match(output, /proxy\| exited/, 'the proxy stopped')
})
