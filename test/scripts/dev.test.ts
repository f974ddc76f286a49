// npm run dev as a real process: it starts the API (embedded PGlite, demo tenants) and the proxy (local CA, demo
// logins), prints its banner only once the edge's /ready passes, ends with the status and the reason of a process
// that stops by itself, and a Ctrl-C reaches each process once. Run as `node scripts/dev.ts`, as npm runs it.
// The subtests share one DATA_DIR, in order: only the first pays for a fresh database.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { eventually, freePort } from '../helpers/edge-stack.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-dev-'))
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
const BANNER = /Gatehouse dev stack ready in (\d+\.\d) s/
const alice = `Basic ${Buffer.from('alice@acme:alice-demo-password').toString('base64')}`

interface Dev {
  child: ChildProcess
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  ports: { api: number; https: number }
  /** Resolves with the output once it matches; fails the test if dev exits first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>
}

async function startDev(t: Test, env: Record<string, string> = {}): Promise<Dev> {
  const [api, https, http, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const child = spawn(process.execPath, ['scripts/dev.ts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      PORT: String(api),
      PROXY_HTTPS_PORT: String(https),
      PROXY_HTTP_PORT: String(http),
      PROXY_METRICS_PORT: String(metrics),
      ...env,
    },
    // A process group of its own, as a terminal gives a foreground job: a "Ctrl-C" goes to the whole group.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {}
    await exited
  })
  return {
    child,
    output: () => output,
    exited,
    ports: { api, https },
    async waitFor(pattern, timeoutMs) {
      let match: RegExpMatchArray | null = null
      let gone = false
      void exited.then(() => {
        gone = true
      })
      await eventually(
        async () => {
          match = pattern.exec(output)
          if (match === null && gone) throw new Error(`dev exited before ${pattern}:\n${output}`)
          return match !== null
        },
        timeoutMs,
        String(pattern),
      )
      return match!
    },
  }
}

/** Lines in the output that match, e.g. how many times a process began shutting down. */
const count = (output: string, pattern: RegExp): number => output.split('\n').filter(line => pattern.test(line)).length

t.test('the banner shows once the edge serves; Ctrl-C stops each process once', { timeout: 120_000 }, async t => {
  const dev = await startDev(t)
  const [, seconds] = await dev.waitFor(BANNER, 100_000)
  t.ok(Number(seconds) > 0, `the banner says how long start took (${seconds} s)`)

  // No retries: when the banner shows, the edge serves.
  const ca = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8')
  const dispatcher = new Agent({ connect: { ca, servername: 'localhost' } })
  t.teardown(() => dispatcher.close())
  const ready = await request(`https://127.0.0.1:${dev.ports.https}/ready`, { dispatcher })
  t.equal(ready.statusCode, 200, 'the edge is ready when the banner shows')
  await ready.body.dump()
  const projects = await request(`https://127.0.0.1:${dev.ports.https}/api/v1/projects`, {
    dispatcher,
    headers: { authorization: alice },
  })
  t.equal(projects.statusCode, 200, "acme's projects through the edge")
  t.ok(((await projects.body.json()) as { data: unknown[] }).data.length > 0, 'the demo tenant comes with data')

  const output = dev.output()
  t.ok(output.indexOf('gatehouse api ready') < output.search(BANNER), 'the banner comes after the API is ready')
  t.match(output, `https://localhost:${dev.ports.https}/graphiql`, 'prints the GraphiQL URL')
  t.match(output, 'alice@acme / alice-demo-password', 'prints the demo logins')
  t.match(output, /^api {2}\| /m, 'API lines are prefixed')
  t.match(output, /^proxy\| /m, 'proxy lines are prefixed')

  // A terminal's Ctrl-C: SIGINT to every process of the foreground group; npm's wrappers may relay it once more.
  process.kill(-dev.child.pid!, 'SIGINT')
  setTimeout(() => {
    try {
      process.kill(dev.child.pid!, 'SIGINT')
    } catch {}
  }, 20)
  t.same(await dev.exited, { code: 0, signal: null }, 'Ctrl-C: both drain and dev exits 0')
  const after = dev.output()
  t.equal(count(after, /^api {2}\| .*"signal":"SIGINT".*shutting down/), 1, 'the API got one SIGINT')
  t.equal(count(after, /^proxy\| .*"signal":"SIGINT".*shutting down/), 1, 'the proxy got one SIGINT')
  t.notMatch(after, /second SIG|Force killing/, 'no process was signalled twice')
  t.match(after, /^api {2}\| exited \(0\)$/m, 'the API stopped cleanly')
  t.match(after, /^proxy\| exited \(0\)$/m, 'the proxy stopped cleanly')
})

t.test('a bad setting ends dev with exit 78, naming it', { timeout: 60_000 }, async t => {
  const dev = await startDev(t, { PROXY_HTTPS_PORT: 'abc' })
  t.same(await dev.exited, { code: 78, signal: null })
  t.match(dev.output(), /proxy stopped \(exit 78\): bad setting PROXY_HTTPS_PORT: must be integer \(got "abc"\)/)
  t.match(dev.output(), /^api {2}\| exited/m, 'the API was stopped too')
  t.notMatch(dev.output(), BANNER, 'no banner')
})

t.test('a port in use ends dev, naming the port, its variable and what holds it', { timeout: 60_000 }, async t => {
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const port = (taken.address() as { port: number }).port
  const dev = await startDev(t, { PROXY_HTTPS_PORT: String(port) })
  t.same(await dev.exited, { code: 1, signal: null })
  t.match(dev.output(), `port ${port} (PROXY_HTTPS_PORT) is already in use by process ${process.pid} (`)
  t.match(dev.output(), `PROXY_HTTPS_PORT=${port + 1} npm run dev`, 'says what to do')
  t.notMatch(dev.output(), BANNER, 'no banner')
})

t.test('the embedded database held by another process ends dev, naming the holder', { timeout: 60_000 }, async t => {
  // Another live process's pid in the lock file, as `npm run db:seed` would leave while it runs.
  const lock = join(dataDir, 'pglite.pid')
  writeFileSync(lock, String(process.pid))
  t.teardown(() => rmSync(lock, { force: true }))
  const dev = await startDev(t)
  t.same(await dev.exited, { code: 1, signal: null })
  const held = `the embedded database in ${join(dataDir, 'pglite')} is held by process ${process.pid} (`
  t.match(dev.output(), `api stopped (exit 1): ${held}`)
  t.match(dev.output(), `kill ${process.pid}`, 'says what to do')
})

t.test('a process that dies ends dev with its status and says so', { timeout: 90_000 }, async t => {
  const dev = await startDev(t)
  await dev.waitFor(BANNER, 80_000)
  const [, apiPid] = await dev.waitFor(/api pid (\d+)/, 1000)
  process.kill(Number(apiPid), 'SIGKILL')
  t.same(await dev.exited, { code: 128 + 9, signal: null }, 'exit 137, as a shell reports a SIGKILL')
  t.match(dev.output(), /api stopped \(killed by SIGKILL\)/)
  t.match(dev.output(), /^proxy\| exited \(0\)$/m, 'the proxy was stopped, and drained')
})
