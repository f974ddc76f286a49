// npm run dev — the stack on embedded defaults, restarted on change: the API on PGlite with demo tenants.
// One command, one terminal: each process's log lines are prefixed with its name; Ctrl-C stops all.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { say } from './cli.js'

const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli')

interface DevProcess { name: string, entry: string, env: Record<string, string> }

const API_PORT = process.env.PORT ?? '3000'
const processes: DevProcess[] = [
  {
    name: 'api',
    entry: 'server/main.ts',
    // The demo tenants only make sense on the embedded database; a real one is seeded with db:seed.
    env: { PORT: API_PORT, SEED_DEMO_DATA: process.env.DATABASE_URL === undefined ? 'true' : 'false' },
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

say(`
Gatehouse dev stack (embedded PGlite in .data/, demo tenants acme and globex)
  API        http://127.0.0.1:${API_PORT}   (health: /health, OpenAPI: /docs, GraphiQL: /graphiql)
  Try it     curl $(npm run -s identity:sign -- acme alice GET /api/v1/projects) http://127.0.0.1:${API_PORT}/api/v1/projects
Ctrl-C stops everything.
`)

let stopping = false
function stop (signal: NodeJS.Signals): void {
  if (stopping) return
  stopping = true
  for (const child of children) child.kill(signal)
  // The API finishes in-flight requests first (SHUTDOWN_GRACE_MS); don't wait forever.
  setTimeout(() => process.exit(1), 15_000).unref()
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))))
