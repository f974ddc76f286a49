// How soon a worker that died is replaced: after a moment the first time, then twice as long after each death
// that follows quickly, up to a cap, so a worker that crashes on start cannot turn into a fork storm.
// A worker that stayed up long enough counts as healthy again and resets the delay.

export interface RestartBackoffOptions {
  initialDelayMs: number
  maxDelayMs: number
  /** A worker that ran this long before dying starts the sequence over. */
  stableAfterMs: number
}

export const DEFAULT_RESTART_BACKOFF: RestartBackoffOptions = {
  initialDelayMs: 200,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
}

export function createRestartBackoff(options: RestartBackoffOptions = DEFAULT_RESTART_BACKOFF) {
  let recentDeaths = 0
  return {
    /** The delay before replacing a worker that died after running for `uptimeMs`. */
    nextDelayMs(uptimeMs: number): number {
      if (uptimeMs >= options.stableAfterMs) recentDeaths = 0
      const delay = Math.min(options.initialDelayMs * 2 ** recentDeaths, options.maxDelayMs)
      recentDeaths++
      return delay
    },
  }
}

export type RestartBackoff = ReturnType<typeof createRestartBackoff>
