// The edge's memory of tenant facts, on a clock the test moves: answers from memory, refreshed once past the
// TTL, the last good answer kept through failures, one load per key, negative answers cached, floods bounded.
import t from 'tap'
import { createFactsCache, FactsBusyError } from '../../../proxy/tenant-facts/facts-cache.ts'

interface Answer {
  value: string | null
}

function harness(options: { maxEntries?: number; maxInFlight?: number } = {}) {
  let time = 1_000_000
  const loads: string[] = []
  const answers = new Map<string, string | null>()
  let failing = false
  const pending: Array<() => void> = []
  let hold = false
  const errors: string[] = []
  const cache = createFactsCache<Answer>({
    ttlMs: 5000,
    maxEntries: options.maxEntries ?? 100,
    maxInFlight: options.maxInFlight ?? 10,
    clock: { now: () => time },
    async load(key) {
      loads.push(key)
      if (hold) await new Promise<void>(resolve => pending.push(resolve))
      if (failing) throw new Error('API down')
      return { value: answers.get(key) ?? null }
    },
    onError: key => {
      errors.push(key)
    },
  })
  return {
    cache,
    loads,
    answers,
    errors,
    advance: (ms: number) => {
      time += ms
    },
    fail: (on: boolean) => {
      failing = on
    },
    hold: (on: boolean) => {
      hold = on
    },
    release: () => {
      for (const resolve of pending.splice(0)) resolve()
    },
  }
}

const settle = () => new Promise(resolve => setImmediate(resolve))

t.test('answers come from memory until the TTL, then one background refresh serves the new answer', async t => {
  const h = harness()
  h.answers.set('acme', 'free')
  t.same(await h.cache.get('acme'), { value: 'free' })
  h.answers.set('acme', 'pro')
  h.advance(4999)
  t.same(await h.cache.get('acme'), { value: 'free' }, 'still fresh: no load')
  t.same(h.cache.now('acme'), { value: 'free' })
  t.equal(h.loads.length, 1)
  h.advance(2)
  t.same(h.cache.now('acme'), { value: 'free' }, 'stale: served at once while it refreshes')
  t.same(h.cache.now('acme'), { value: 'free' })
  await settle()
  t.equal(h.loads.length, 2, 'one refresh, however many readers')
  t.same(h.cache.now('acme'), { value: 'pro' }, 'the refreshed answer')
})

t.test('a failed refresh keeps the last good answer and waits a TTL before trying again', async t => {
  const h = harness()
  h.answers.set('acme', 'pro')
  await h.cache.get('acme')
  h.fail(true)
  h.advance(6000)
  t.same(await h.cache.get('acme'), { value: 'pro' })
  await settle()
  t.same(h.errors, ['acme'])
  for (let i = 0; i < 20; i++) t.same(h.cache.now('acme'), { value: 'pro' })
  await settle()
  t.equal(h.loads.length, 2, 'no load per request while the API is down')
  h.fail(false)
  h.answers.set('acme', 'enterprise')
  h.advance(6000)
  h.cache.now('acme')
  await settle()
  t.same(h.cache.now('acme'), { value: 'enterprise' }, 'recovers when the API is back')
})

t.test('a key never learnt rejects while the API is down: tried once per TTL, never taken for an answer', async t => {
  const h = harness()
  h.fail(true)
  await t.rejects(h.cache.get('acme'), /API down/)
  for (let i = 0; i < 10; i++) await t.rejects(h.cache.get('acme'), /API down/)
  t.equal(h.cache.now('acme'), undefined, 'no answer in memory')
  t.equal(h.loads.length, 1, 'one attempt, not one per lookup')
  h.fail(false)
  h.answers.set('acme', 'pro')
  h.advance(5001)
  await t.rejects(h.cache.get('acme'), /API down/, 'past the TTL: the failure is served while the retry runs')
  await settle()
  t.same(await h.cache.get('acme'), { value: 'pro' })
  t.equal(h.loads.length, 2)
})

t.test('concurrent lookups of one key share one load', async t => {
  const h = harness()
  h.hold(true)
  const all = Promise.all(Array.from({ length: 50 }, () => h.cache.get('acme')))
  await settle()
  h.release()
  t.equal((await all).length, 50)
  t.equal(h.loads.length, 1)
})

t.test('unknown keys are answered from memory too (negative caching), within a bounded LRU', async t => {
  const h = harness({ maxEntries: 100 })
  for (let i = 0; i < 1000; i++) await h.cache.get(`random-${i}.example.com`)
  t.equal(h.cache.size, 100, 'memory holds at most maxEntries answers')
  h.loads.length = 0
  for (let i = 0; i < 10; i++) t.same(await h.cache.get('random-999.example.com'), { value: null })
  t.equal(h.loads.length, 0, 'the negative answer is remembered')
})

t.test('a flood of new keys: loads in flight are capped, the rest fail at once', async t => {
  const h = harness({ maxInFlight: 5 })
  h.hold(true)
  const flood = Array.from({ length: 200 }, (_, i) =>
    h.cache.get(`k${i}`).then(
      () => 'answered',
      (error: Error) => error,
    ),
  )
  await settle()
  t.equal(h.loads.length, 5, 'five loads, not two hundred')
  h.release()
  const outcomes = await Promise.all(flood)
  t.equal(outcomes.filter(outcome => outcome === 'answered').length, 5)
  t.ok(outcomes.filter(outcome => outcome instanceof FactsBusyError).length === 195)
  h.hold(false)
  t.same(await h.cache.get('k0'), { value: null }, 'a key already known is still answered')
})

t.test('fresh waits for an answer past the TTL rather than serve the stale one; a failure keeps it', async t => {
  const h = harness()
  h.answers.set('shop.acme-corp.com', 'acme')
  t.same(await h.cache.fresh('shop.acme-corp.com'), { value: 'acme' })
  h.answers.set('shop.acme-corp.com', null) // the tenant removed it
  h.advance(4999)
  t.same(await h.cache.fresh('shop.acme-corp.com'), { value: 'acme' }, 'within the TTL: from memory')
  t.equal(h.loads.length, 1)
  h.advance(2)
  t.same(await h.cache.fresh('shop.acme-corp.com'), { value: null }, 'past it: the new answer, not the stale one')
  t.equal(h.loads.length, 2)
  h.fail(true)
  h.advance(6000)
  t.same(await h.cache.fresh('shop.acme-corp.com'), { value: null }, 'a failed refresh: the last good answer')
})
