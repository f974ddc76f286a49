// Real processes for fault drills: a throwaway redis-server, the API (server/main.ts) and the proxy
// (proxy/main.ts) started as an operator starts them, on ports of their own. Each can be killed, frozen
// and started again on the same port; all are SIGKILLed when the test ends, pass or fail.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { Agent, request } from 'undici'
import { TEST_IDENTITY_SECRET } from './build-app.ts'
import { freePort } from './edge-stack.ts'

const ROOT = join(import.meta.dirname, '..', '..')

/** A child process whose stdout is kept as lines (pino's JSON, parsed on demand). */
export interface LoggedProcess {
  child: ChildProcess
  alive(): boolean
  /** Parsed stdout lines, optionally only those containing `text` (cheap: most lines are never parsed). */
  lines(text?: string): Array<Record<string, unknown>>
  /** How many lines contain every one of `texts` (no parsing: cheap enough to poll). */
  countLines(...texts: string[]): number
  stderr(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the first line `match` accepts; fails if the process exits first or after `timeoutMs`. */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
}

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

/**
 * `command` run from the repository's root, SIGKILLed when the test ends if it is still running.
 * `detached`: in a process group of its own, so a test can signal the group the way a terminal's Ctrl-C does.
 */
export function spawnLogged(
  t: Test,
  command: string,
  args: string[],
  env: Record<string, string>,
  { detached = false } = {},
): LoggedProcess {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached })
  const raw: string[] = []
  let partial = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop()!
    for (const part of parts) if (part.trim() !== '') raw.push(part)
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  // 'close', not 'exit': by then everything it wrote has been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  )
  t.teardown(async () => {
    if (!alive(child)) return
    child.kill('SIGKILL')
    await exited
  })
  const parse = (line: string): Record<string, unknown> => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      return { msg: line, unparsed: true }
    }
  }
  const lines = (text?: string): Array<Record<string, unknown>> =>
    raw.filter(line => text === undefined || line.includes(text)).map(parse)
  return {
    child,
    alive: () => alive(child),
    lines,
    countLines: (...texts) =>
      raw.reduce((count, line) => (texts.every(text => line.includes(text)) ? count + 1 : count), 0),
    stderr: () => stderr,
    exited,
    async waitForLine(match, what, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      for (let seen = 0; ; await new Promise(resolve => setTimeout(resolve, 50))) {
        // An exited process may have written the line just before: look once everything it wrote is read.
        const ended = !alive(child)
        if (ended) await exited
        for (; seen < raw.length; seen++) {
          const line = parse(raw[seen]!)
          if (match(line)) return line
        }
        if (ended) {
          throw new Error(
            `${command} ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${stderr}`,
          )
        }
        if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${stderr}`)
      }
    },
  }
}

/** The environment a child starts from: this one without the suite's database settings. */
function baseEnv(): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== undefined)) as Record<
    string,
    string
  >
  delete env.DATABASE_URL
  delete env.DATABASE_OWNER_URL
  return env
}

async function stopProcess(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals): Promise<void> {
  if (!alive(child)) return
  child.kill(signal)
  await exited
}

export interface RedisServer {
  port: number
  url: string
  /** A client of the test's own, to look into the server; it rides out the outages without failing. */
  inspect: Redis
  /** Starts it (again) on the same port, empty: it keeps nothing on disk. */
  start(): Promise<void>
  kill(): Promise<void>
  /** A graceful stop: SHUTDOWN NOSAVE, then waits for the process to exit. */
  shutdownNoSave(): Promise<void>
  /** SIGSTOP: connections stay open, nothing is answered (as behind a network path that drops packets). */
  freeze(): void
  thaw(): void
}

export async function startRedisServer(t: Test): Promise<RedisServer> {
  const port = await freePort()
  let current: LoggedProcess | undefined
  const inspect = new Redis({
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  })
  inspect.on('error', () => {}) // it sees the outages too
  t.teardown(() => inspect.disconnect())
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    inspect,
    async start() {
      current = spawnLogged(
        t,
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        baseEnv(),
      )
      await current.waitForLine(
        line => String(line.msg).includes('Ready to accept connections'),
        'redis-server ready',
        10_000,
      )
      if (inspect.status === 'wait') await inspect.connect()
      const deadline = Date.now() + 10_000
      while ((await inspect.ping().catch(() => '')) !== 'PONG') {
        if (Date.now() > deadline) throw new Error('the inspecting client never reached redis-server')
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async kill() {
      if (current !== undefined) await stopProcess(current.child, current.exited, 'SIGKILL')
    },
    async shutdownNoSave() {
      if (current === undefined) return
      await inspect.call('SHUTDOWN', 'NOSAVE').catch(() => {}) // the connection closes instead of a reply
      await current.exited
    },
    freeze: () => {
      current?.child.kill('SIGSTOP')
    },
    thaw: () => {
      current?.child.kill('SIGCONT')
    },
  }
  await server.start()
  return server
}

export interface ApiProcess {
  port: number
  url: string
  /** The process now running (a restart replaces it). */
  current(): LoggedProcess
  /** Requests it has received whose path starts with `prefix`, over every life of the process. */
  requestsSeen(prefix?: string): number
  kill(signal?: NodeJS.Signals): Promise<void>
  freeze(): void
  thaw(): void
  /** Starts it again on the same port and waits until it is ready. */
  start(): Promise<void>
}

/**
 * The API process as `npm start` runs it, not waited for: on the embedded database unless `env` says
 * otherwise, on an ephemeral port unless `env` sets PORT, logging at info.
 */
export function spawnApi(t: Test, env: Record<string, string>): LoggedProcess {
  return spawnLogged(t, process.execPath, ['server/main.ts'], {
    ...baseEnv(),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    ...env,
  })
}

/**
 * The API as `npm start` runs it, on Postgres (`databaseUrl`, the app role) or else on an embedded database
 * in a directory of its own. `env` adds settings (e.g. CACHE_S_MAXAGE_SECONDS).
 */
export async function startApiProcess(
  t: Test,
  settings: { databaseUrl?: string; env?: Record<string, string> } = {},
): Promise<ApiProcess> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-drill-api-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const env = {
    PORT: String(port),
    DATA_DIR: dataDir,
    ...(settings.databaseUrl !== undefined ? { DATABASE_URL: settings.databaseUrl } : {}),
    ...settings.env,
  }
  const lives: LoggedProcess[] = []
  const current = (): LoggedProcess => lives.at(-1)!
  const api: ApiProcess = {
    port,
    url: `http://127.0.0.1:${port}`,
    current,
    requestsSeen: (prefix = '/') =>
      lives.reduce((sum, life) => sum + life.countLines('"msg":"incoming request"', `"url":"${prefix}`), 0),
    kill: async (signal = 'SIGKILL') => stopProcess(current().child, current().exited, signal),
    freeze: () => {
      current().child.kill('SIGSTOP')
    },
    thaw: () => {
      current().child.kill('SIGCONT')
    },
    async start() {
      const life = spawnApi(t, env)
      lives.push(life)
      await life.waitForLine(line => line.msg === 'gatehouse api ready', 'the API ready', 60_000)
    },
  }
  await api.start()
  return api
}

export interface ProxyProcess {
  url: string
  metricsUrl: string
  caCert: string
  /** Trusts the proxy's CA; HTTP/2 by ALPN. */
  agent: Agent
  process: LoggedProcess
  /** The sum of a metric's samples (those with all of `labels`) as the metrics port shows them now. */
  metric(name: string, labels?: Record<string, string>): Promise<number>
}

/**
 * The proxy process as `npm run start:proxy` runs it, not waited for, with `env` as its whole configuration
 * (besides what this process inherits, less the suite's database settings). With PROXY_WORKERS, its
 * workers are killed with it when the test ends: SIGKILL reaches only the primary, and a worker leaves
 * only once its IPC channel closes.
 */
export function spawnProxy(t: Test, env: Record<string, string>, options: { detached?: boolean } = {}): LoggedProcess {
  let proxy: LoggedProcess | undefined
  t.teardown(() => {
    if (proxy === undefined || !proxy.alive()) return
    for (const line of proxy.lines('"proxy worker ready"')) {
      try {
        process.kill(line.pid as number, 'SIGKILL')
      } catch {
        /* already gone */
      }
    }
  })
  proxy = spawnLogged(t, process.execPath, ['proxy/main.ts'], { ...baseEnv(), ...env }, options)
  return proxy
}

/** Resolves once the proxy says it is ready; fails if it exits first. */
export const proxyReady = (proxy: LoggedProcess): Promise<unknown> =>
  proxy.waitForLine(line => line.msg === 'gatehouse proxy ready', 'the proxy ready')

/** The proxy as `npm run start:proxy` runs it: its own CA in a fresh DATA_DIR, ephemeral ports, JSON logs at info. */
export async function startProxyProcess(
  t: Test,
  settings: { upstreamUrls: string; htpasswdFile: string; env?: Record<string, string> },
): Promise<ProxyProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-drill-proxy-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const proxy = spawnProxy(t, {
    DATA_DIR: dataDir,
    PROXY_HTTPS_PORT: '0',
    PROXY_HTTP_PORT: '0', // no redirect listener: the only plain-HTTP listener is then the metrics one
    PROXY_METRICS_PORT: '0',
    UPSTREAM_URLS: settings.upstreamUrls,
    HTPASSWD_FILE: settings.htpasswdFile,
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    LOG_LEVEL: 'info',
    AUTH_FAILURE_LIMIT: '100000',
    RATE_LIMIT_ANONYMOUS: '100000',
    ...settings.env,
  })
  await proxyReady(proxy)
  const listening = proxy.lines('Server listening at').map(line => String(line.msg))
  const https = listening.find(msg => msg.includes('https://'))!.replace('Server listening at ', '')
  const metrics = listening.find(msg => msg.includes('http://'))!.replace('Server listening at ', '')
  const caCert = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8')
  const agent = new Agent({ connect: { ca: caCert, servername: 'localhost' }, allowH2: true })
  t.teardown(() => agent.close())
  return {
    url: https,
    metricsUrl: metrics,
    caCert,
    agent,
    process: proxy,
    async metric(name, labels = {}) {
      const response = await request(`${metrics}/metrics`)
      return sumSamples(await response.body.text(), name, labels)
    },
  }
}

/** Adds the samples of `name` in a Prometheus text exposition whose labels include all of `labels`. */
export function sumSamples(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const present = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]),
    )
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) sum += Number(match[4])
  }
  return sum
}

/** The request ids of the current process's log lines with this message (e.g. 'incoming request'), in order. */
export const requestIdsLogged = (api: ApiProcess, msg: string): string[] =>
  api
    .current()
    .lines(`"${msg}"`)
    .map(line => String(line.reqId))

/** How the current process ended, or 'still running' after `ms`. */
export async function exitWithin(
  api: ApiProcess,
  ms: number,
): Promise<{ code: number | null; signal: string | null } | 'still running'> {
  return Promise.race([
    api.current().exited,
    new Promise<'still running'>(resolve => setTimeout(() => resolve('still running'), ms)),
  ])
}
