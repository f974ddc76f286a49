// One wrk run (one thread, keep-alive unless the scenario closes connections, fixed duration) and what it
// measured. Errors are counted, never dropped: non-2xx/3xx answers apart from socket errors, and wrk's
// timeouts (no answer within WRK_TIMEOUT) apart from connect/read/write failures.
import { execFile } from 'node:child_process'
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
}

export interface WrkLoad {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
  seconds: number
  connections: number
}

function ms (value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim())
  if (match === null) throw new Error(`unreadable wrk latency "${value}"`)
  return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as const)[match[2] as 'us' | 'ms' | 's' | 'm']
}

export function parseWrk (out: string): WrkRun {
  const perSecond = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const total = /(\d+) requests in/.exec(out)
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)
  if (perSecond === null || total === null) throw new Error(`unreadable wrk output:\n${out}`)
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)
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
  }
}

export async function runWrk (load: WrkLoad): Promise<WrkRun> {
  const args = [
    '-t1', `-c${load.connections}`, `-d${load.seconds}s`, `--timeout`, WRK_TIMEOUT, '--latency', '-s', SCRIPT,
    ...Object.entries(load.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    load.url,
  ]
  const env = { ...process.env, BENCH_WRK_METHOD: load.method, BENCH_WRK_BODY: load.body ?? '' }
  const { stdout } = await promisify(execFile)('wrk', args, { env, timeout: (load.seconds + 30) * 1000, maxBuffer: 1 << 20 })
  return parseWrk(stdout)
}

/** Exits with a clear message when a tool the bench drives is missing. */
export async function requireTool (command: string, args: string[], install: string): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args)
    return (stdout + stderr).trim().split('\n')[0]!
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${command} is not installed (${install})`)
    const output = error as { stdout?: string, stderr?: string }
    return `${output.stdout ?? ''}${output.stderr ?? ''}`.trim().split('\n')[0] ?? command
  }
}
