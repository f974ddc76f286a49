// One wrk run (one thread, keep-alive unless the scenario closes connections, fixed duration) and what it
// measured. Errors are counted, never dropped: non-2xx/3xx answers apart from socket errors, and wrk's
// timeouts (no answer within WRK_TIMEOUT) apart from connect/read/write failures.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const WRK_TIMEOUT = '2s'
const SCRIPT = fileURLToPath(new URL('./wrk/request.lua', import.meta.url))

export interface WrkRun {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  socketErrors: number
  timeouts: number
  /** Bytes of responses wrk read (headers and bodies, after TLS), as it reports them (two decimals of its unit). */
  bytesRead: number
}

export interface WrkLoad {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
  seconds: number
  connections: number
}

/** One request of a rotation: wrk sends them in turn, each connection taking the next. */
export interface WrkRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: string
}

/** Several requests in turn against one origin (its scheme, host and port), e.g. updates of many rows. */
export interface WrkRotation {
  origin: string
  requests: WrkRequest[]
  seconds: number
  connections: number
}

/**
 * The file bench/wrk/request.lua reads in rotation mode: a request per line, its fields separated by tabs
 * (method, path, body or nothing, then header names and values). JSON text never holds a raw tab or newline.
 */
export function formatRequestFile(requests: WrkRequest[]): string {
  if (requests.length === 0) throw new Error('a wrk rotation needs at least one request')
  return requests
    .map(request => {
      const fields = [request.method, request.path, request.body ?? '', ...Object.entries(request.headers).flat()]
      const bad = fields.find(field => /[\t\r\n]/.test(field))
      if (bad !== undefined) throw new Error(`a wrk request field holds a tab or a line break: ${JSON.stringify(bad)}`)
      return fields.join('\t') + '\n'
    })
    .join('')
}

function ms(value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim())
  if (match === null) throw new Error(`unreadable wrk latency "${value}"`)
  return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as const)[match[2] as 'us' | 'ms' | 's' | 'm']
}

export function parseWrk(out: string): WrkRun {
  const perSecond = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const total = /(\d+) requests in/.exec(out)
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)
  if (perSecond === null || total === null) throw new Error(`unreadable wrk output:\n${out}`)
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)
  // wrk prints sizes in binary units (its format_binary): 1.00MB is 1024² bytes.
  const read = /requests in [^,]+,\s+([\d.]+)([KMGT]?B) read/.exec(out)
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[read?.[2] ?? 'B'] ?? 1
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requestsPerSecond: Number(perSecond[1]),
    // No answered request at all: wrk prints zeros (or nothing) for the percentiles.
    p50Ms: p50 !== null && Number(total[1]) > 0 ? ms(p50[1]!) : Number.NaN,
    p99Ms: p99 !== null && Number(total[1]) > 0 ? ms(p99[1]!) : Number.NaN,
    requests: Number(total[1]),
    non2xx: Number(non2xx?.[1] ?? 0),
    socketErrors: socket !== null ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: socket !== null ? Number(socket[4]) : 0,
    bytesRead: read !== null ? Number(read[1]) * unit : Number.NaN,
  }
}

async function wrk(args: string[], env: NodeJS.ProcessEnv, seconds: number): Promise<WrkRun> {
  const { stdout } = await promisify(execFile)('wrk', ['-t1', ...args], {
    env: { ...process.env, ...env },
    timeout: (seconds + 30) * 1000,
    maxBuffer: 1 << 20,
  })
  return parseWrk(stdout)
}

const common = (load: { connections: number; seconds: number }): string[] => [
  `-c${load.connections}`,
  `-d${load.seconds}s`,
  `--timeout`,
  WRK_TIMEOUT,
  '--latency',
  '-s',
  SCRIPT,
]

export async function runWrk(load: WrkLoad): Promise<WrkRun> {
  const headers = Object.entries(load.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`])
  return wrk(
    [...common(load), ...headers, load.url],
    { BENCH_WRK_METHOD: load.method, BENCH_WRK_BODY: load.body ?? '', BENCH_WRK_REQUESTS_FILE: '' },
    load.seconds,
  )
}

/** The same run over a rotation of requests (the script's second mode), through a file removed afterwards. */
export async function runWrkRotation(load: WrkRotation): Promise<WrkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'))
  try {
    const file = join(dir, 'requests.tsv')
    writeFileSync(file, formatRequestFile(load.requests))
    return await wrk(
      [...common(load), `${load.origin}${load.requests[0]!.path}`],
      { BENCH_WRK_REQUESTS_FILE: file },
      load.seconds,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Exits with a clear message when a tool the bench drives is missing. */
export async function requireTool(command: string, args: string[], install: string): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args)
    return (stdout + stderr).trim().split('\n')[0]!
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${command} is not installed (${install})`)
    const output = error as { stdout?: string; stderr?: string }
    return `${output.stdout ?? ''}${output.stderr ?? ''}`.trim().split('\n')[0] ?? command
  }
}
