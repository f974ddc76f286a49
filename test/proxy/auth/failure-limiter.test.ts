// Failed logins per address (memory store): the limit blocks that address for the rest of the window, and
// checking other addresses (every request is checked) neither blocks them nor pushes out its record.
import t from 'tap'
import { createFailureLimiter } from '../../../proxy/auth/failure-limiter.js'

t.test('an address that failed too often stays blocked however many other addresses are checked', async (t) => {
  const limiter = createFailureLimiter({ limit: 3, windowMs: 60_000 })
  for (let index = 0; index < 3; index++) await limiter.recordFailure('10.0.0.1')
  const blocked = await limiter.check('10.0.0.1')
  t.ok(blocked.blocked)
  t.ok(blocked.retryAfterSeconds > 0 && blocked.retryAfterSeconds <= 60)
  // More distinct addresses than the store keeps (100 000): legitimate traffic must not evict the prober.
  for (let index = 0; index < 100_010; index++) {
    const state = await limiter.check(`10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:x`)
    if (state.blocked) return t.fail(`address ${index} blocked without a failure`)
  }
  t.ok((await limiter.check('10.0.0.1')).blocked, 'still blocked')
})

t.test('below the limit an address passes; the window resets it', async (t) => {
  const limiter = createFailureLimiter({ limit: 2, windowMs: 200 })
  await limiter.recordFailure('10.0.0.2')
  t.notOk((await limiter.check('10.0.0.2')).blocked)
  await limiter.recordFailure('10.0.0.2')
  t.ok((await limiter.check('10.0.0.2')).blocked)
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.notOk((await limiter.check('10.0.0.2')).blocked, 'a new window starts clean')
})
