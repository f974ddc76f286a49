// The servers under test as real child processes: started with their output kept in a log file (shown
// when one fails to come up or dies), stopped by their own pid only, and measured for peak memory over
// their whole process tree (nginx's master and workers, a cluster's primary and workers).
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

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
export function tail (file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no output)'
  }
}

export function startProcess (name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv, cwd?: string, logFile: string }): Managed {
  const log = openSync(options.logFile, 'a')
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', log, log] })
  closeSync(log)
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? String(code)))
    child.once('error', (error) => resolve(`failed to start: ${error.message}`))
  })
  const managed: Managed = {
    name,
    child,
    logFile: options.logFile,
    exited,
    async stop (signal = 'SIGTERM', graceMs = 10_000) {
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
export function killAllStarted (): void {
  for (const managed of running) {
    try { managed.child.kill('SIGKILL') } catch { /* already gone */ }
  }
  running.clear()
}

/** Polls `probe` until it returns true; fails with the process's log when it exits or time runs out. */
export async function waitUntil (managed: Managed, what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  let exit: string | undefined
  void managed.exited.then((code) => { exit = code })
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exit !== undefined) throw new Error(`${managed.name} exited (${exit}) before ${what}:\n${tail(managed.logFile)}`)
    try {
      if (await probe()) return
    } catch { /* not yet */ }
    await sleep(200)
  }
  throw new Error(`${managed.name}: ${what} did not happen within ${timeoutMs / 1000} s:\n${tail(managed.logFile)}`)
}

/** The pid and every descendant of it, from /proc. */
export function processTree (root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // The command name is in parentheses and may contain spaces: the parent pid is the second field after it.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
    } catch { /* gone meanwhile */ }
  }
  const tree: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    tree.push(pid)
    queue.push(...(children.get(pid) ?? []))
  }
  return tree
}

/** Σ VmHWM (each process's peak resident set) over the tree, in MiB. */
export function peakMemoryMiB (root: number): { mib: number, processes: number } {
  let kb = 0
  let processes = 0
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      kb += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
      processes++
    } catch { /* gone meanwhile */ }
  }
  return { mib: kb / 1024, processes }
}

/** A loopback port that was free a moment ago. */
export async function freePort (): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

// Kernel clock ticks per second for /proc/<pid>/stat times: 100 on every Linux this runs on (USER_HZ).
const TICKS_PER_SECOND = 100

/**
 * CPU time the tree has used so far, in ms (user + system, with its reaped children's: nginx's old workers
 * after a reload). Contention on a shared machine stretches latencies, but barely changes the CPU a request
 * costs, which is why the report shows it next to requests/s.
 */
export function cpuMs (root: number): number {
  let ticks = 0
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // utime, stime, cutime, cstime: fields 14–17 of stat, 12–15 after the command name.
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    } catch { /* gone meanwhile */ }
  }
  return ticks * 1000 / TICKS_PER_SECOND
}
