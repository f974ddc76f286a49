// What a bench section started, undone in reverse order at its end, after a failure, or on Ctrl-C: processes,
// temporary folders, builds and databases must not outlive the bench.
import { killAllStarted } from './processes.ts'

export interface Teardown {
  /** Registers one undo step; steps run last-added first. */
  add(step: () => Promise<void> | void): void
  /** Runs every step (each failure logged, none stopping the others) and stops whatever processes are left. */
  close(): Promise<void>
}

export function createTeardown(log: (message: string) => void): Teardown {
  const steps: Array<() => Promise<void> | void> = []
  const close = async (): Promise<void> => {
    for (const step of steps.reverse()) {
      try {
        await step()
      } catch (error) {
        log(`cleanup: ${(error as Error).message}`)
      }
    }
    steps.length = 0
    // Whatever a failed start left running (a server that was starting when another failed).
    killAllStarted()
  }
  const interrupted = (): void => {
    log('interrupted: stopping what it started')
    killAllStarted()
    void close().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  steps.push(() => {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
  })
  return {
    add: step => {
      steps.push(step)
    },
    close,
  }
}
