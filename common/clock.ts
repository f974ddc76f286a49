// Where time-dependent code reads the time, in milliseconds since the epoch: the system's in the processes, one that
// a test moves by hand in tests, so an entry can age a minute without the test waiting a minute.
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: Date.now }
