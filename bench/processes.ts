// The servers under test as real child processes: started with their output kept in a log file (shown
// when one fails to come up or dies), stopped by their own pid only, and measured for peak memory over
// their whole process tree (nginx's master and workers, a cluster's primary and workers).
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'

export interface Managed {
  name: string
  child: ChildProcess
  logFile: string
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<string>
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>
}

const running = new Set<Managed>()

/** Last lines of a log, for error messages. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no output)'
  }
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string },
): Managed {
  const log = openSync(options.logFile, 'a')
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', log, log] })
  closeSync(log)
  const exited = new Promise<string>(resolve => {
    child.once('exit', (code, signal) => resolve(signal ?? String(code)))
    child.once('error', error => resolve(`failed to start: ${error.message}`))
  })
  const managed: Managed = {
    name,
    child,
    logFile: options.logFile,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      running.delete(managed)
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])
      if (!done) {
        child.kill('SIGKILL')
        await exited
      }
    },
  }
  running.add(managed)
  return managed
}

/** For exit paths that cannot wait: every process this bench started gets SIGKILL. */
export function killAllStarted(): void {
  for (const managed of running) {
    try {
      managed.child.kill('SIGKILL')
    } catch {
      /* already gone */
    }
  }
  running.clear()
}

/** Polls `probe` until it returns true; fails with the process's log when it exits or time runs out. */
export async function waitUntil(
  managed: Managed,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  let exit: string | undefined
  void managed.exited.then(code => {
    exit = code
  })
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      throw new Error(`${managed.name} exited (${exit}) before ${what}:\n${tail(managed.logFile)}`)
    }
    try {
      if (await probe()) return
    } catch {
      /* not yet */
    }
    await sleep(200)
  }
  throw new Error(`${managed.name}: ${what} did not happen within ${timeoutMs / 1000} s:\n${tail(managed.logFile)}`)
}

/**
 * Waits until `url` answers 200 — over TLS trusting `caCert` when given — on a fresh connection each time
 * it is called (after nginx's reload, one to a new worker).
 */
export async function waitUntilAnswers(
  managed: Managed,
  url: string,
  options: { caCert?: string; what?: string } = {},
): Promise<void> {
  const agent = new Agent(options.caCert !== undefined ? { connect: { ca: options.caCert } } : {})
  try {
    await waitUntil(managed, options.what ?? `its ${new URL(url).pathname} answered 200`, async () => {
      const response = await request(url, { dispatcher: agent })
      await response.body.dump()
      return response.statusCode === 200
    })
  } finally {
    await agent.close()
  }
}

// Kernel clock ticks per second for /proc/<pid>/stat times: 100 on every Linux this runs on (USER_HZ).
const TICKS_PER_SECOND = 100

export interface ProcessSnapshot {
  /**
   * CPU time the roots' trees had used, in ms (user + system, with their reaped children's: nginx's old workers
   * after a reload). Contention on a shared machine stretches latencies, but barely changes the CPU a request
   * costs, which is why the report shows it next to requests/s.
   */
  cpuMs(roots: number[]): number
  /** Σ VmHWM (each process's peak resident set) over the roots' trees, in MiB; largestMiB: the biggest one's. */
  peakMemoryMiB(roots: number[]): TreeMemory
  /** Σ VmRSS (the resident set now) over the roots' trees, in MiB; largestMiB: the biggest process's. */
  residentMiB(roots: number[]): TreeMemory
}

export interface TreeMemory {
  mib: number
  processes: number
  largestMiB: number
}

/**
 * One pass over /proc: every process's parent and CPU ticks from its stat, read once however many trees are
 * then asked about (the sampler asks for the target's and the API's every half second).
 */
export function readProcesses(): ProcessSnapshot {
  const children = new Map<number, number[]>()
  const ticks = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // The command name is in parentheses and may contain spaces: the fields are counted after it.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const parent = Number(fields[1])
      const siblings = children.get(parent)
      if (siblings === undefined) children.set(parent, [Number(entry)])
      else siblings.push(Number(entry))
      // utime, stime, cutime, cstime: fields 14–17 of stat, 12–15 after the command name.
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]))
    } catch {
      /* gone meanwhile */
    }
  }
  const trees = (roots: number[]): number[] => {
    const tree: number[] = []
    const queue = [...roots]
    while (queue.length > 0) {
      const pid = queue.shift()!
      tree.push(pid)
      queue.push(...(children.get(pid) ?? []))
    }
    return tree
  }
  return {
    cpuMs: roots => (trees(roots).reduce((sum, pid) => sum + (ticks.get(pid) ?? 0), 0) * 1000) / TICKS_PER_SECOND,
    peakMemoryMiB: roots => treeMemory(trees(roots), /VmHWM:\s+(\d+) kB/),
    residentMiB: roots => treeMemory(trees(roots), /VmRSS:\s+(\d+) kB/),
  }
}

/** One field of /proc/<pid>/status (in kB) summed over the processes, and its largest value, in MiB. */
function treeMemory(pids: number[], field: RegExp): TreeMemory {
  let kb = 0
  let largest = 0
  let processes = 0
  for (const pid of pids) {
    try {
      const value = Number(field.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
      kb += value
      largest = Math.max(largest, value)
      processes++
    } catch {
      /* gone meanwhile */
    }
  }
  return { mib: kb / 1024, processes, largestMiB: largest / 1024 }
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}
