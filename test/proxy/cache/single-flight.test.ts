// One fetch per key at a time: waiters learn how it ended, and a late second end cannot end the next fetch.
import t from 'tap'
import { SingleFlight } from '../../../proxy/cache/single-flight.ts'

t.test("waiters share the first fetch's outcome; the key is free again once it ended", async t => {
  const flights = new SingleFlight<string>()
  t.equal(flights.pending('k'), undefined)
  const end = flights.start('k')
  const waiting = [flights.pending('k'), flights.pending('k')]
  t.equal(flights.pending('other'), undefined, 'keys are apart')
  end('stored')
  t.same(await Promise.all(waiting), ['stored', 'stored'])
  t.equal(flights.pending('k'), undefined)
  t.equal(flights.size, 0)
})

t.test('only the first end counts: a late one does not end the next fetch of the key', async t => {
  const flights = new SingleFlight<string>()
  const endFirst = flights.start('k')
  endFirst('first')
  const endSecond = flights.start('k')
  const next = flights.pending('k')!
  endFirst('late') // e.g. onResponse after the entry was already shared
  t.equal(flights.pending('k'), next, 'the second fetch is still the one under way')
  endSecond('second')
  t.equal(await next, 'second')
  t.equal(flights.size, 0)
})
