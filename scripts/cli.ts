// Shared by the operator commands: one way to report success, failure and bad usage.
import { ConfigError } from '../common/env-config.ts'

export class UsageError extends Error {}

/** Runs a command's main, printing a clear message and exiting non-zero on any failure. */
export function runCli(name: string, main: () => Promise<void>): void {
  main().then(
    () => {
      process.exitCode ??= 0 // a main may set its own (e.g. "nothing to check" is not success)
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`${name}: ${error.message}\n`)
        process.exitCode = 64 // EX_USAGE
      } else if (error instanceof ConfigError) {
        process.stderr.write(`${name}: ${error.message}\n`)
        process.exitCode = 78 // EX_CONFIG
      } else {
        process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`)
        process.exitCode = 1
      }
    },
  )
}

export function say(line: string): void {
  process.stdout.write(`${line}\n`)
}
