// A worker that keeps dying is replaced ever more slowly, up to a cap, so it cannot become a fork storm;
// one that ran long enough before dying counts as a fresh start.
import t from 'tap'
import { createRestartBackoff } from '../../../proxy/cluster/restart-backoff.ts'

t.test('doubles after each quick death, capped, and resets after a stable run', async t => {
  const backoff = createRestartBackoff({ initialDelayMs: 100, maxDelayMs: 1000, stableAfterMs: 60_000 })
  t.same(
    [0, 0, 0, 0, 0, 0].map(uptime => backoff.nextDelayMs(uptime)),
    [100, 200, 400, 800, 1000, 1000],
  )
  t.equal(backoff.nextDelayMs(59_999), 1000, 'still crashing within the minute: still capped')
  t.equal(backoff.nextDelayMs(60_000), 100, 'a worker that stayed up a minute starts over')
  t.equal(backoff.nextDelayMs(10), 200)
})

t.test('the defaults replace a first death quickly and never wait more than half a minute', async t => {
  const backoff = createRestartBackoff()
  const delays = Array.from({ length: 20 }, () => backoff.nextDelayMs(0))
  t.ok(delays[0]! <= 500)
  t.equal(Math.max(...delays), 30_000)
})
