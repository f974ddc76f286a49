// npm run dev — the whole stack on embedded defaults, restarted on change: the API on PGlite with demo
// tenants, the edge proxy in front of it with a local CA and demo logins. One command, one terminal:
// each process's log lines are prefixed with its name; Ctrl-C stops both.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { upsertLogin } from '../proxy/auth/htpasswd-file.js'
import { say } from './cli.js'

const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli')
const DATA_DIR = process.env.DATA_DIR ?? '.data'
const API_PORT = process.env.PORT ?? '3000'
const HTTPS_PORT = process.env.PROXY_HTTPS_PORT ?? '8443'
const HTTP_PORT = process.env.PROXY_HTTP_PORT ?? '8080'
const METRICS_PORT = process.env.PROXY_METRICS_PORT ?? '9464'

// Development-only logins for the demo tenants, written once; the proxy listens on loopback only.
const DEMO_LOGINS = [['alice@acme', 'alice-demo-password'], ['bob@globex', 'bob-demo-password']] as const
const htpasswd = process.env.HTPASSWD_FILE ?? join(DATA_DIR, 'htpasswd')
if (!existsSync(htpasswd)) {
  for (const [login, password] of DEMO_LOGINS) await upsertLogin(htpasswd, login, password)
}

interface DevProcess { name: string, entry: string, env: Record<string, string> }
const processes: DevProcess[] = [
  {
    name: 'api',
    entry: 'server/main.ts',
    // The demo tenants only make sense on the embedded database; a real one is seeded with db:seed.
    env: { PORT: API_PORT, SEED_DEMO_DATA: process.env.DATABASE_URL === undefined ? 'true' : 'false' },
  },
  {
    name: 'proxy',
    entry: 'proxy/main.ts',
    env: {
      PROXY_HTTPS_PORT: HTTPS_PORT,
      PROXY_HTTP_PORT: HTTP_PORT,
      PROXY_METRICS_PORT: METRICS_PORT,
      UPSTREAM_URLS: `http://127.0.0.1:${API_PORT}`,
      TENANT_PLANS: process.env.TENANT_PLANS ?? 'acme=pro,globex=free',
    },
  },
]

const children: ChildProcess[] = []
for (const { name, entry, env } of processes) {
  const child = spawn(process.execPath, [TSX_CLI, 'watch', '--clear-screen=false', entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => process.stdout.write(`${name.padEnd(5)}| ${line}\n`))
  }
  child.on('exit', (code, signal) => say(`${name.padEnd(5)}| exited (${signal ?? code})`))
  children.push(child)
}

const ca = join(DATA_DIR, 'tls', 'ca.crt')
say(`
Gatehouse dev stack — embedded PGlite in ${DATA_DIR}/, demo tenants acme (pro) and globex (free)
  Edge (HTTPS, HTTP/2)  https://localhost:${HTTPS_PORT}      (http://localhost:${HTTP_PORT} redirects here)
  GraphiQL              https://localhost:${HTTPS_PORT}/graphiql
  OpenAPI               https://localhost:${HTTPS_PORT}/docs
  Proxy metrics         http://127.0.0.1:${METRICS_PORT}/metrics   API metrics: http://127.0.0.1:${API_PORT}/metrics
  Demo logins           ${DEMO_LOGINS.map(([login, password]) => `${login} / ${password}`).join('    ')}
  Try it                curl --cacert ${ca} -u alice@acme:alice-demo-password https://localhost:${HTTPS_PORT}/api/v1/projects
  Trust the local CA    ${ca} (see the proxy's first start message); add users: npm run user:add -- carol@acme
Ctrl-C stops everything.
`)

let stopping = false
function stop (signal: NodeJS.Signals): void {
  if (stopping) return
  stopping = true
  for (const child of children) child.kill(signal)
  // Both finish in-flight requests first (SHUTDOWN_GRACE_MS); don't wait forever.
  setTimeout(() => process.exit(1), 15_000).unref()
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))))
