// A clock the test moves by hand: it starts at the real time (so stored dates stay plausible) and stands still until
// advanced, so an entry ages by exactly what the test says, without the test waiting for it.
import type { Clock } from '../../common/clock.ts'

export interface ManualClock extends Clock {
  advance(ms: number): void
}

export function manualClock(start = Date.now()): ManualClock {
  let time = start
  return {
    now: () => time,
    advance(ms) {
      time += ms
    },
  }
}
