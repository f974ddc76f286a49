// When certificates are renewed and how failed attempts back off: tables, no clock.
import t from 'tap'
import { renewalDue, retryDelayMs } from '../../../../proxy/tls/acme/renewal.ts'

const DAY = 86_400_000
const at = (days: number): Date => new Date(Date.UTC(2026, 0, 1) + days * DAY)

t.test('renewal is due at two thirds of the lifetime', async t => {
  const table: Array<[number, number, number]> = [
    [0, 90, 60],
    [0, 30, 20],
    [10, 16, 14],
    [0, 7, (7 * 2) / 3],
  ]
  for (const [from, to, due] of table) {
    t.equal(renewalDue(at(from), at(to)).getTime(), at(due).getTime(), `valid ${from}→${to} days: due at day ${due}`)
  }
})

t.test('retries back off exponentially, capped, with jitter', async t => {
  const policy = { baseMs: 1000, maxMs: 8000 }
  const table: Array<[number, number]> = [
    [0, 1000],
    [1, 2000],
    [2, 4000],
    [3, 8000],
    [4, 8000],
    [40, 8000],
  ]
  for (const [attempt, ceiling] of table) {
    t.equal(
      retryDelayMs(attempt, policy, () => 0),
      ceiling / 2,
      `attempt ${attempt}: at least half of ${ceiling} ms`,
    )
    t.equal(
      retryDelayMs(attempt, policy, () => 1),
      ceiling,
      `attempt ${attempt}: at most ${ceiling} ms`,
    )
  }
  const spread = new Set(Array.from({ length: 20 }, () => retryDelayMs(2, policy)))
  t.ok(spread.size > 10, 'proxies that failed together do not retry together')
  t.equal(
    retryDelayMs(0, undefined, () => 1),
    60_000,
    'by default the first retry comes within a minute',
  )
})
