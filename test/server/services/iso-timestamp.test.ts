// isoTimestamp must write exactly what Date#toISOString writes, for every instant, or fail as it does.
import t from 'tap'
import { isoTimestamp } from '../../../server/services/iso-timestamp.ts'

t.test('the same text as toISOString at the edges of each field', async t => {
  for (const text of [
    '1000-01-01T00:00:00.000Z',
    '1970-01-01T00:00:00.000Z',
    '1999-12-31T23:59:59.999Z',
    '2000-02-29T12:05:09.007Z',
    '2026-12-05T03:13:48.050Z',
    '9999-12-31T23:59:59.999Z',
  ]) {
    t.equal(isoTimestamp(new Date(text)), text)
  }
})

t.test('the same text as toISOString for 100 000 instants spread over years 0000–9999 and beyond', async t => {
  let seed = 20261205
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const span = Date.UTC(10_100, 0, 1) - Date.UTC(-100, 0, 1)
  let differing = 0
  for (let i = 0; i < 100_000; i++) {
    const date = new Date(Date.UTC(-100, 0, 1) + Math.floor(random() * span))
    if (isoTimestamp(date) !== date.toISOString()) differing++
  }
  t.equal(differing, 0)
})

t.test('an invalid date throws as toISOString does', async t => {
  t.throws(() => isoTimestamp(new Date(Number.NaN)), RangeError)
})
