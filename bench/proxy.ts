// npm run bench — the edge proxy under load on loopback, side by side with the API it fronts.
// Starts the API (PGlite in a temporary folder, or the Postgres in DATABASE_URL) and the proxy as real
// processes, then drives each scenario in turn with wrk (keep-alive, fixed duration), interleaved and
// repeated, and prints medians and ratios to the direct API as a Markdown table for docs/benchmarks.md.
//   BENCH_SECONDS (8)  BENCH_ROUNDS (3)  BENCH_CONNECTIONS (32)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRequire } from 'node:module'
import { request } from 'undici'
import { signIdentity } from '../common/identity-signature.js'
import { upsertLogin } from '../proxy/auth/htpasswd-file.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const API_PORT = 39_300
const HTTPS_PORT = 39_443
const SECRET = 'bench-secret-that-is-at-least-32-characters'
const LOGIN = { user: 'alice@acme', password: 'bench-password' }
const PATH = '/api/v1/projects?limit=20'
const TSX = createRequire(import.meta.url).resolve('tsx/cli')

interface Run { requestsPerSecond: number, p50Ms: number, p99Ms: number, non2xx: number, socketErrors: number }

function ms (value: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value.trim())
  if (match === null) throw new Error(`unreadable wrk latency "${value}"`)
  return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000 } as const)[match[2] as 'us' | 'ms' | 's']
}

function wrk (url: string, headers: Record<string, string>): Run {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), url]
  const out = execFileSync('wrk', args, { encoding: 'utf8' })
  const perSecond = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)
  if (perSecond === null || p50 === null || p99 === null) throw new Error(`unreadable wrk output:\n${out}`)
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requestsPerSecond: Number(perSecond[1]),
    p50Ms: ms(p50[1]!),
    p99Ms: ms(p99[1]!),
    non2xx: Number(non2xx?.[1] ?? 0),
    // wrk counts a response slower than its 2 s timeout as a socket error too.
    socketErrors: socketErrors?.slice(1).reduce((sum, count) => sum + Number(count), 0) ?? 0,
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const peakRssMb = (child: ChildProcess): number => {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

async function waitFor (url: string, options: Parameters<typeof request>[1] = {}): Promise<void> {
  for (let attempt = 0; attempt < 120; attempt++) {
    try {
      const response = await request(url, options)
      await response.body.dump()
      if (response.statusCode < 500) return
    } catch { /* not up yet */ }
    await sleep(250)
  }
  throw new Error(`${url} never came up`)
}

const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'))
const children: ChildProcess[] = []
const start = (entry: string, env: Record<string, string>): ChildProcess => {
  const child = spawn(process.execPath, [TSX, entry], { env: { ...process.env, DATA_DIR: dataDir, IDENTITY_SECRET: SECRET, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  return child
}
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM')
  rmSync(dataDir, { recursive: true, force: true })
})

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' })
} catch (error) {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    process.stderr.write('bench: wrk is not installed (apt-get install wrk)\n')
    process.exit(69)
  }
}

const database = process.env.DATABASE_URL !== undefined ? 'PostgreSQL (DATABASE_URL)' : 'PGlite (embedded)'
if (process.env.DATABASE_URL !== undefined) {
  execFileSync(process.execPath, [TSX, 'scripts/db-migrate.ts'], { stdio: 'inherit' })
  execFileSync(process.execPath, [TSX, 'scripts/db-seed.ts'], { stdio: 'inherit' })
}
await upsertLogin(join(dataDir, 'htpasswd'), LOGIN.user, LOGIN.password)
const api = start('server/main.ts', { PORT: String(API_PORT), SEED_DEMO_DATA: 'true' })
const proxy = start('proxy/main.ts', {
  PROXY_HTTPS_PORT: String(HTTPS_PORT), PROXY_HTTP_PORT: '0', PROXY_METRICS_PORT: '0', UPSTREAM_URLS: `http://127.0.0.1:${API_PORT}`,
  TENANT_PLANS: 'acme=enterprise', RATE_LIMIT_ENTERPRISE: '1000000000',
})
const apiUrl = `http://127.0.0.1:${API_PORT}${PATH}`
const proxyUrl = `https://127.0.0.1:${HTTPS_PORT}${PATH}`
const basic = `Basic ${Buffer.from(`${LOGIN.user}:${LOGIN.password}`).toString('base64')}`
await waitFor(`http://127.0.0.1:${API_PORT}/ready`)
const { Agent } = await import('undici')
await waitFor(proxyUrl, { headers: { authorization: basic }, dispatcher: new Agent({ connect: { rejectUnauthorized: false } }) })

// A signature is good for IDENTITY_MAX_AGE_SECONDS (60 s): sign afresh for every run.
const signed = (): Record<string, string> => signIdentity(SECRET, { tenant: 'acme', user: 'alice', requestId: 'bench', method: 'GET', url: PATH })

const scenarios: Array<[string, () => Run]> = [
  ['API direct (signed identity, no TLS)', () => wrk(apiUrl, signed())],
  ['Proxy, uncached GET (TLS, auth, rate limit, forward)', () => wrk(proxyUrl, { authorization: basic, 'cache-control': 'no-store' })],
  ['Proxy, cached GET (TLS, auth, rate limit, cache hit)', () => wrk(proxyUrl, { authorization: basic })],
]
const results = new Map<string, Run[]>(scenarios.map(([name]) => [name, []]))
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, run] of scenarios) {
    process.stderr.write(`round ${round}/${ROUNDS}: ${name}\n`)
    results.get(name)!.push(run())
  }
}

const baseline = median(results.get(scenarios[0]![0])!.map((run) => run.requestsPerSecond))
const lines = [
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; database ${database}.`,
  `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, HTTP/1.1 keep-alive, GET ${PATH} (20 projects) as one user; ${ROUNDS} interleaved rounds, medians.`,
  '',
  '| Scenario | req/s | vs API direct | p50 ms | p99 ms | non-2xx | socket errors / timeouts |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...scenarios.map(([name]) => {
    const runs = results.get(name)!
    const perSecond = median(runs.map((run) => run.requestsPerSecond))
    return `| ${name} | ${perSecond.toFixed(0)} | ${(perSecond / baseline).toFixed(2)}× | ${median(runs.map((run) => run.p50Ms)).toFixed(2)} | ${median(runs.map((run) => run.p99Ms)).toFixed(2)} | ${runs.reduce((sum, run) => sum + run.non2xx, 0)} | ${runs.reduce((sum, run) => sum + run.socketErrors, 0)} |`
  }),
  '',
  `Peak RSS: proxy ${peakRssMb(proxy).toFixed(0)} MiB, API ${peakRssMb(api).toFixed(0)} MiB.`,
]
process.stdout.write(lines.join('\n') + '\n')
process.exit(0)
