// The primary's workers: forks them, replaces one that dies (with a backoff, so a worker that crashes on
// start cannot become a fork storm), and on shutdown asks each to drain and waits for all of them.
// A worker dying before the whole pool first became ready is not retried: that is a proxy that cannot
// start (a port in use, a setting only the worker checks), and the primary gives up with its exit code.
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import {
  createRestartBackoff,
  DEFAULT_RESTART_BACKOFF,
  type RestartBackoff,
  type RestartBackoffOptions,
} from './restart-backoff.ts'
import { isMessage, sendToWorker, type ToPrimary } from './messages.ts'

export interface WorkerPoolOptions {
  count: number
  log: Logger
  /** Every message from a worker that the pool does not handle itself. */
  onMessage(worker: Worker, message: unknown): void
  /** Told of every replacement, for the restart counter. */
  onRestart?(): void
  backoff?: RestartBackoffOptions
}

export interface WorkerPool {
  /** Resolves once every worker listens; rejects with the exit code of one that died before. */
  started: Promise<void>
  /** The workers alive now. */
  workers(): Worker[]
  /** Stops replacing workers and asks each to drain; resolves with whether all of them exited 0. */
  drain(): Promise<boolean>
  /** Kills every worker at once (a second signal, or the grace period ran out). */
  kill(): void
}

interface Slot {
  index: number
  worker: Worker | undefined
  startedAt: number
  backoff: RestartBackoff
  restartTimer: NodeJS.Timeout | undefined
}

export class WorkerStartError extends Error {
  readonly exitCode: number
  constructor(exitCode: number, message: string) {
    super(message)
    this.exitCode = exitCode
  }
}

export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { log } = options
  const slots: Slot[] = Array.from({ length: options.count }, (_, index) => ({
    index,
    worker: undefined,
    startedAt: 0,
    backoff: createRestartBackoff(options.backoff ?? DEFAULT_RESTART_BACKOFF),
    restartTimer: undefined,
  }))
  const ready = new Set<Worker>()
  let allReady = false
  let draining = false
  let clean = true
  let resolveStarted!: () => void
  let rejectStarted!: (error: Error) => void
  const started = new Promise<void>((resolve, reject) => {
    resolveStarted = resolve
    rejectStarted = reject
  })
  started.catch(() => {}) // the caller awaits it; an early rejection must not count as unhandled
  let wakeDrain: (() => void) | undefined

  const fork = (slot: Slot): void => {
    const worker = cluster.fork()
    slot.worker = worker
    slot.startedAt = Date.now()
    worker.on('message', (message: unknown) => {
      if (!isMessage<ToPrimary, 'gatehouse:ready'>(message, 'gatehouse:ready')) {
        return options.onMessage(worker, message)
      }
      ready.add(worker)
      if (allReady) log.info({ worker: worker.id, workerPid: worker.process.pid }, 'proxy worker replaced')
      else if (ready.size === slots.length) {
        allReady = true
        resolveStarted()
      }
    })
    worker.on('exit', (code, signal) => {
      ready.delete(worker)
      slot.worker = undefined
      const exit = { worker: worker.id, workerPid: worker.process.pid, code, signal }
      if (draining) {
        if (code !== 0) clean = false
        log.info(exit, 'proxy worker stopped')
      } else if (!allReady) {
        log.fatal(exit, 'a proxy worker exited before the proxy was ready')
        rejectStarted(
          new WorkerStartError(
            code !== 0 && code !== null ? code : 1,
            `worker exited with ${signal ?? `code ${code}`} while starting`,
          ),
        )
      } else {
        const delayMs = slot.backoff.nextDelayMs(Date.now() - slot.startedAt)
        log.error({ ...exit, restartInMs: delayMs }, 'proxy worker died; replacing it')
        slot.restartTimer = setTimeout(() => {
          slot.restartTimer = undefined
          options.onRestart?.()
          fork(slot)
        }, delayMs)
      }
      wakeDrain?.()
    })
  }

  const alive = (): Worker[] => slots.flatMap(slot => (slot.worker !== undefined ? [slot.worker] : []))

  for (const slot of slots) fork(slot)

  return {
    started,
    workers: alive,
    async drain() {
      draining = true
      for (const slot of slots) clearTimeout(slot.restartTimer)
      for (const worker of alive()) {
        // A worker whose channel is gone cannot be asked: a signal makes it drain too.
        if (worker.isConnected()) sendToWorker(worker, { type: 'gatehouse:drain' })
        else worker.process.kill('SIGTERM')
      }
      while (alive().length > 0) {
        await new Promise<void>(resolve => {
          wakeDrain = resolve
        })
      }
      return clean
    },
    kill() {
      clean = false
      for (const worker of alive()) worker.process.kill('SIGKILL')
    },
  }
}
