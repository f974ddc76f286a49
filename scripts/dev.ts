// npm run dev — the whole stack on embedded defaults, restarted on change: the API on PGlite with demo
// tenants, the edge proxy in front of it with a local CA and demo logins. One command, one terminal: each
// process's lines are prefixed with its name; the banner shows once the edge's /ready passes; a process that
// stops by itself ends dev with its exit status and why; Ctrl-C stops both (exit 0 once both have drained).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DevChild, type ChildStop } from './dev/dev-child.ts'
import { readyUrl, waitUntilReady } from './dev/readiness.ts'
import { exitStatus, stopReason } from './dev/stop-reason.ts'

const env = process.env
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DATA_DIR = env.DATA_DIR ?? '.data'
// V8's code cache for what the processes load, and Node's for the TypeScript it strips: a restart after a change
// compiles only the files that changed (a setting of your own wins).
const COMPILE_CACHE = join(ROOT, 'node_modules', '.cache', 'gatehouse', 'compile')
// Passed on to the processes as given: they validate them (a bad one ends dev with exit 78 naming it).
const PORTS = {
  PORT: env.PORT ?? '3000',
  PROXY_HTTPS_PORT: env.PROXY_HTTPS_PORT ?? '8443',
  PROXY_HTTP_PORT: env.PROXY_HTTP_PORT ?? '8080',
  PROXY_METRICS_PORT: env.PROXY_METRICS_PORT ?? '9464',
}
// Both give up draining after their SHUTDOWN_GRACE_MS (10 s by default) and exit 1; this is the backstop.
const STOP_DEADLINE_MS = 15_000
const NOT_READY_HINT_MS = 30_000

// Development-only logins for the demo tenants, written once; the proxy listens on loopback only.
const DEMO_LOGINS = [
  ['alice@acme', 'alice-demo-password'],
  ['bob@globex', 'bob-demo-password'],
] as const

const prefix = (name: string): string => `${name.padEnd(5)}| `
// Not scripts/cli.ts's say(): importing it loads TypeBox, half a second before the API could start.
const say = (text: string): void => {
  process.stdout.write(`${text}\n`)
}
const tell = (line: string): void => {
  process.stderr.write(`${prefix('dev')}${line}\n`)
}

function devChild(
  name: string,
  entry: string,
  childEnv: Record<string, string>,
  watch: string[],
  nodeOptions: string[] = [],
): DevChild {
  return new DevChild({
    name,
    entry,
    nodeOptions,
    cwd: ROOT,
    env: { NODE_COMPILE_CACHE: COMPILE_CACHE, ...env, ...childEnv },
    watch: watch.map(folder => join(ROOT, folder)),
    onLine: line => process.stdout.write(`${prefix(name)}${line}\n`),
    onUnexpectedStop: stop => {
      void end({ child: name, stop })
    },
    onRestart: changed => announceWhenReady(`${name} restarted (${changed} changed)`),
  })
}

const api = devChild(
  'api',
  'server/main.ts',
  {
    PORT: PORTS.PORT,
    // The demo tenants only make sense on the embedded database; a real one is seeded with db:seed.
    SEED_DEMO_DATA: env.DATABASE_URL === undefined ? 'true' : 'false',
  },
  ['server', 'common', 'prisma'],
  // PGlite's Postgres (and Prisma's query compiler) run on V8's baseline WebAssembly compiler only. Its optimising
  // tier compiled hot functions in the background through every start, which dev pays again on each restart:
  // 4.0 → 3.3 s of CPU to /ready (server/main.ts, two starts each, 2026-12-05). A developer's few rows never win
  // that back.
  ['--liftoff-only'],
)
const proxy = devChild(
  'proxy',
  'proxy/main.ts',
  {
    PROXY_HTTPS_PORT: PORTS.PROXY_HTTPS_PORT,
    PROXY_HTTP_PORT: PORTS.PROXY_HTTP_PORT,
    PROXY_METRICS_PORT: PORTS.PROXY_METRICS_PORT,
    UPSTREAM_URLS: `http://127.0.0.1:${PORTS.PORT}`,
  },
  ['proxy', 'common'],
)
const children = [api, proxy]
const readiness = [readyUrl('http', env.HOST, PORTS.PORT), readyUrl('https', env.PROXY_HOST, PORTS.PROXY_HTTPS_PORT)]
let waiting = new AbortController()
let bannerShown = false
let endedAt: number | undefined

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    void end({ signal })
  })
}
// The API is the longer start (opening PGlite): it goes first, and the logins are hashed while it starts.
api.start()
const htpasswd = env.HTPASSWD_FILE ?? join(DATA_DIR, 'htpasswd')
if (!existsSync(htpasswd)) {
  // Imported only here: bcrypt is not needed on a warm start.
  const { upsertLogin } = await import('../proxy/auth/htpasswd-file.ts')
  for (const [login, password] of DEMO_LOGINS) await upsertLogin(htpasswd, login, password)
}
if (endedAt === undefined) {
  void banner()
  proxy.start()
  if (endedAt === undefined) {
    say(`${prefix('dev')}api pid ${api.pid}, proxy pid ${proxy.pid}: the banner follows once the edge is ready`)
  }
}

async function banner(): Promise<void> {
  const hint = setTimeout(
    () => tell(`not ready after ${NOT_READY_HINT_MS / 1000} s: still waiting for ` + readiness.join(' and ')),
    NOT_READY_HINT_MS,
  )
  const ready = await waitUntilReady(readiness, waiting.signal)
  clearTimeout(hint)
  if (!ready) return
  bannerShown = true
  const ca = join(DATA_DIR, 'tls', 'ca.crt')
  const edge = `https://localhost:${PORTS.PROXY_HTTPS_PORT}`
  say(
    [
      '',
      `Gatehouse dev stack ready in ${(performance.now() / 1000).toFixed(1)} s — embedded PGlite in ${DATA_DIR}/, ` +
        'demo tenants acme (pro) and globex (free)',
      `  Edge (HTTPS, HTTP/2)  ${edge}      (http://localhost:${PORTS.PROXY_HTTP_PORT} redirects here)`,
      `  GraphiQL              ${edge}/graphiql`,
      `  OpenAPI               ${edge}/docs`,
      `  Proxy metrics         http://127.0.0.1:${PORTS.PROXY_METRICS_PORT}/metrics   ` +
        `API metrics: http://127.0.0.1:${PORTS.PORT}/metrics`,
      `  Demo logins           ${DEMO_LOGINS.map(([login, password]) => `${login} / ${password}`).join('    ')}`,
      `  Try it                curl --cacert ${ca} -u alice@acme:alice-demo-password ${edge}/api/v1/projects`,
      `  Trust the local CA    ${ca} (see the proxy's first start message); add users: npm run user:add -- carol@acme`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  )
}

/** After a restart: one line once the edge serves again (before the first banner, the banner says it). */
function announceWhenReady(what: string): void {
  if (!bannerShown) return
  waiting.abort()
  waiting = new AbortController()
  const since = performance.now()
  void waitUntilReady(readiness, waiting.signal).then(ready => {
    if (ready) say(`${prefix('dev')}${what}: ready again in ${((performance.now() - since) / 1000).toFixed(1)} s`)
  })
}

type Cause = { signal: NodeJS.Signals } | { child: string; stop: ChildStop }

/** Stops every process once, waits for them to drain, and exits: with the failed one's status, else 0. */
async function end(cause: Cause): Promise<void> {
  if (endedAt !== undefined) {
    // One Ctrl-C can arrive more than once (the terminal's, and again relayed by a wrapper such as npm): the processes
    // have had theirs, once. A later one is someone waiting: say what for.
    if ('signal' in cause && performance.now() - endedAt > 1000) {
      tell(`already stopping: waiting for the processes to drain (at most ${STOP_DEADLINE_MS / 1000} s in all)`)
    }
    return
  }
  endedAt = performance.now()
  waiting.abort()
  // Why goes last, below the other process's drain, where the terminal leaves it in view.
  if ('child' in cause) tell(`${cause.child} stopped: stopping the others`)
  // The same signal dev got (each drains on SIGINT, SIGTERM or SIGHUP); SIGINT when one of them stopped.
  const signal = 'signal' in cause ? cause.signal : 'SIGINT'
  const stops = await Promise.all(
    children.map(async child => {
      const stop = await child.stop(signal, STOP_DEADLINE_MS)
      say(`${prefix(child.name)}exited (${stop.signal ?? stop.code})`)
      return stop
    }),
  )
  if ('child' in cause) {
    tell(stopReason(cause.child, cause.stop, PORTS))
    process.exit(exitStatus(cause.stop))
  }
  // Asked to stop: each process should have drained and exited 0 (one still starting may die of the signal).
  const failed = stops.findIndex(stop => stop.code !== 0 && stop.signal !== signal)
  if (failed >= 0) tell(stopReason(children[failed]!.name, stops[failed]!, PORTS))
  process.exit(failed >= 0 ? 1 : 0)
}
