// One process of `npm run dev`: started on the TypeScript sources (Node erases their types as it loads them),
// restarted when a file it is built from changes, stopped with one signal. Why not a watcher such as `tsx watch` or
// `node --watch`: it outlives the process it runs, so dev could neither learn that a child had died nor tell a
// restart from a crash, and a Ctrl-C reached the child twice (from the terminal and relayed by the watcher).
// Here the child is dev's own, in a process group of its own: its exit is an event, and only dev signals it.
import { spawn, type ChildProcess } from 'node:child_process'
import { watch, type FSWatcher } from 'node:fs'
import { join, relative } from 'node:path'
import { createInterface } from 'node:readline'

export interface DevChildOptions {
  name: string
  /** The entry file, relative to cwd. */
  entry: string
  /** Node options of its own, before the entry. */
  nodeOptions?: string[]
  env: Record<string, string | undefined>
  cwd: string
  /** Folders whose files it is built from; a change restarts it. `node --watch` follows the import graph instead:
   * whole folders also catch what is read at run time (migrations) and cost nothing to keep right. */
  watch: string[]
  /** Each line the child writes, stdout and stderr alike. */
  onLine(line: string): void
  /** The child stopped without being asked to: dev is over. */
  onUnexpectedStop(stop: ChildStop): void
  /** A new process was started after a change to `changed` (relative to cwd). */
  onRestart(changed: string): void
}

export interface ChildStop {
  code: number | null
  signal: NodeJS.Signals | null
  /** The last lines it wrote, for the message that says why it stopped. */
  lines: string[]
}

// Loaded first into each process: stops it when dev dies without a word (exit-with-parent.ts).
const GUARD = import.meta.resolve('./exit-with-parent.ts')

const KEPT_LINES = 40
// Editors write swap and backup files beside the sources; only what the processes load restarts them.
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs|json|sql|prisma)$/
// One save is often several events (write, rename, chmod): restart once they have settled.
const SETTLE_MS = 150
const RESTART_DEADLINE_MS = 15_000

export class DevChild {
  #process: ChildProcess | undefined
  #lines: string[] = []
  #watchers: FSWatcher[] = []
  // restarting: the running one was asked to stop for a change.
  #state: 'idle' | 'running' | 'restarting' | 'stopping' | 'stopped' = 'idle'
  #pendingChange: string | undefined
  #settle: NodeJS.Timeout | undefined
  #stopped: Promise<ChildStop> | undefined

  private readonly options: DevChildOptions
  constructor(options: DevChildOptions) {
    this.options = options
  }

  get name(): string {
    return this.options.name
  }
  get pid(): number | undefined {
    return this.#process?.pid
  }

  /** Starts its first process; one that cannot start stops by itself, and onUnexpectedStop says why. */
  start(): void {
    if (this.#stopped !== undefined) return // dev is ending: nothing new starts
    this.#spawn()
    for (const folder of this.options.watch) {
      try {
        const watcher = watch(folder, { recursive: true }, (_event, file) => {
          if (file !== null && SOURCE_FILE.test(file)) this.#changed(relative(this.options.cwd, join(folder, file)))
        })
        watcher.on('error', error => this.options.onLine(`(dev: stopped watching ${folder}: ${error.message})`))
        this.#watchers.push(watcher)
      } catch (error) {
        this.options.onLine(`(dev: cannot watch ${folder}: ${(error as Error).message})`)
      }
    }
  }

  /** Asks it to stop with one signal (it drains); past `deadlineMs` it is killed. Resolves once it has exited. */
  stop(signal: NodeJS.Signals, deadlineMs: number): Promise<ChildStop> {
    if (this.#stopped !== undefined) return this.#stopped
    this.#closeWatchers()
    const child = this.#process
    if (this.#state === 'stopped' || child === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.#state = 'stopped'
      const stop = { code: child?.exitCode ?? 0, signal: child?.signalCode ?? null, lines: this.#lines }
      this.#stopped = Promise.resolve(stop)
      return this.#stopped
    }
    // A restart in progress has already signalled this process: it is on its way out, and no new one starts.
    const alreadySignalled = this.#state === 'restarting'
    this.#state = 'stopping'
    this.#stopped = new Promise(resolve => {
      const kill = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
      child.once('exit', (code, exitSignal) => {
        clearTimeout(kill)
        this.#state = 'stopped'
        resolve({ code, signal: exitSignal, lines: this.#lines })
      })
    })
    if (!alreadySignalled) child.kill(signal)
    return this.#stopped
  }

  #spawn(): void {
    const { env, cwd, entry, nodeOptions = [] } = this.options
    this.#lines = []
    this.#state = 'running'
    const child = spawn(process.execPath, [...nodeOptions, `--import=${GUARD}`, entry], {
      cwd,
      env,
      // Own process group: the terminal's Ctrl-C goes to dev's group only, and dev forwards it once.
      detached: true,
      // The IPC channel is only there to close when dev dies (exit-with-parent.ts).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    this.#process = child
    child.on('error', error => {
      // Not started at all (its folder gone, no process slots left): a stop, reported as one, with status 1. For a
      // process that did start, its end comes as 'exit'; an error then (a signal it could not be sent) is only told.
      this.options.onLine(`(dev: ${error.message})`)
      if (child.pid !== undefined || this.#state !== 'running') return
      const stop = { code: 1, signal: null, lines: [...this.#lines, error.message] }
      this.#state = 'stopped'
      this.#stopped = Promise.resolve(stop)
      this.#closeWatchers()
      this.options.onUnexpectedStop(stop)
    })
    const outputs = [child.stdout!, child.stderr!].map(stream => {
      const lines = createInterface({ input: stream, crlfDelay: Infinity })
      lines.on('line', line => {
        this.#lines.push(line)
        if (this.#lines.length > KEPT_LINES) this.#lines.shift()
        this.options.onLine(line)
      })
      return new Promise(resolve => lines.once('close', resolve))
    })
    child.once('exit', (code, signal) => {
      if (this.#state === 'restarting') {
        this.#spawn()
        this.options.onRestart(this.#pendingChange ?? '')
        this.#pendingChange = undefined
        return
      }
      if (this.#state !== 'running') return // stop() resolves
      this.#state = 'stopped'
      this.#closeWatchers()
      // Its last words are the reason: wait for them (briefly: a grandchild may hold the pipes).
      const flushed = new Promise(resolve => setTimeout(resolve, 500).unref())
      void Promise.race([Promise.all(outputs), flushed]).then(() =>
        this.options.onUnexpectedStop({ code, signal, lines: this.#lines }),
      )
    })
  }

  #changed(file: string): void {
    if (this.#state !== 'running' && this.#state !== 'restarting') return
    this.#pendingChange = file
    clearTimeout(this.#settle)
    this.#settle = setTimeout(() => {
      // Already on its way out: the next process starts from the files as they are then.
      if (this.#state !== 'running') return
      this.#state = 'restarting'
      this.options.onLine(`(dev: ${file} changed: restarting)`)
      const child = this.#process
      child?.kill('SIGTERM')
      // It drains first; one that hangs is not waited for forever.
      const kill = setTimeout(() => child?.kill('SIGKILL'), RESTART_DEADLINE_MS)
      child?.once('exit', () => clearTimeout(kill))
    }, SETTLE_MS)
  }

  #closeWatchers(): void {
    clearTimeout(this.#settle)
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers = []
  }
}
