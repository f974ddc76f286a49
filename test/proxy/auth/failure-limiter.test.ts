// The failed-login throttle reserves an attempt before bcrypt runs: checks in flight count, so a concurrent
// burst never gets more checks than the limit, per address and per login, in memory and in Redis, and
// falls back to memory while Redis is away. A right password gives its reservation back.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import {
  createFailureLimiter,
  isRefusal,
  type FailureLimiterOptions,
  type Refusal,
} from '../../../proxy/auth/failure-limiter.ts'

const REDIS_URL = 'redis://127.0.0.1:6379'
const WINDOW_MS = 60_000

/** A Redis client as the proxy makes one (no offline queue), and a key prefix of the test's own, removed after it. */
async function sharedRedis(t: Test): Promise<{ redis: Redis; keyPrefix: string }> {
  const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true })
  await redis.connect()
  const keyPrefix = `gatehouse-test:auth-failures:${randomBytes(6).toString('hex')}`
  t.teardown(async () => {
    const keys = await redis.keys(`${keyPrefix}:*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  return { redis, keyPrefix }
}

const refusals = (outcomes: object[]): Refusal[] => outcomes.filter(isRefusal)

const stores: Array<[string, (t: Test) => Promise<Partial<FailureLimiterOptions>>]> = [
  ['memory', async () => ({})],
  ['redis', sharedRedis],
]

for (const [name, store] of stores) {
  t.test(`${name}: concurrent reservations from one address never exceed its limit`, async t => {
    const limiter = createFailureLimiter({
      addressLimit: 5,
      loginLimit: 1000,
      windowMs: WINDOW_MS,
      ...(await store(t)),
    })
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, index) => limiter.reserve('10.0.0.1', `user${index}@acme`)),
    )
    t.equal(outcomes.length - refusals(outcomes).length, 5, '5 checks may run')
    for (const refusal of refusals(outcomes)) {
      t.equal(refusal.throttle, 'address')
      t.ok(
        refusal.retryAfterSeconds >= 1 && refusal.retryAfterSeconds <= 60,
        `Retry-After ${refusal.retryAfterSeconds} within the window`,
      )
    }
    t.match(
      await limiter.addressRefusal('10.0.0.1'),
      { throttle: 'address' },
      'known-good credentials from it are refused too',
    )
    t.equal(await limiter.addressRefusal('10.0.0.2'), undefined, 'another address is not')
    t.notOk(isRefusal(await limiter.reserve('10.0.0.2', 'user0@acme')), 'and may check credentials')
  })

  t.test(`${name}: a right password gives its reservation back; a wrong one keeps it as the failure`, async t => {
    const limiter = createFailureLimiter({ addressLimit: 2, loginLimit: 2, windowMs: WINDOW_MS, ...(await store(t)) })
    for (let index = 0; index < 10; index++) {
      const reservation = await limiter.reserve('10.0.0.3', 'alice@acme')
      if (isRefusal(reservation)) return t.fail(`success ${index + 1} refused`)
      await reservation.release()
    }
    t.equal(await limiter.addressRefusal('10.0.0.3'), undefined, 'ten successes are no failures')
    // In flight: two checks hold both attempts; a third waits for neither, it is refused.
    const [first, second] = await Promise.all([
      limiter.reserve('10.0.0.3', 'alice@acme'),
      limiter.reserve('10.0.0.3', 'alice@acme'),
    ])
    t.match(
      await limiter.reserve('10.0.0.3', 'alice@acme'),
      { throttle: 'address' },
      'two checks in flight fill the limit',
    )
    if (isRefusal(first) || isRefusal(second)) return t.fail('the first two are granted')
    await first.release()
    t.notOk(
      isRefusal(await limiter.reserve('10.0.0.3', 'alice@acme')),
      'the right one released its attempt: one more may run',
    )
    t.match(await limiter.reserve('10.0.0.3', 'alice@acme'), { throttle: 'address' }, 'the failures stay')
  })

  t.test(
    `${name}: one login guessed from many addresses is throttled per login, and each guess spends its address's attempt`,
    async t => {
      const limiter = createFailureLimiter({ addressLimit: 2, loginLimit: 3, windowMs: WINDOW_MS, ...(await store(t)) })
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, index) => limiter.reserve(`10.1.0.${index}`, 'victim@acme')),
      )
      t.equal(outcomes.length - refusals(outcomes).length, 3, '3 checks of the login may run, from whichever addresses')
      t.ok(refusals(outcomes).every(refusal => refusal.throttle === 'login'))
      t.notOk(isRefusal(await limiter.reserve('10.1.0.0', 'other@acme')), 'other logins stay open to these addresses')
      // A guess the login's throttle refused still counts for its address: a locked login is no free oracle.
      t.match(await limiter.reserve('10.2.0.1', 'victim@acme'), { throttle: 'login' })
      t.match(await limiter.reserve('10.2.0.1', 'victim@acme'), { throttle: 'login' })
      t.match(await limiter.reserve('10.2.0.1', 'other@acme'), { throttle: 'address' })
      t.ok(await limiter.addressRefusal('10.2.0.1'))
    },
  )
}

t.test('redis: several proxies share one count; keys are bounded and expire with the window', async t => {
  const shared = await sharedRedis(t)
  const proxies = [1, 2, 3].map(() =>
    createFailureLimiter({ addressLimit: 4, loginLimit: 6, windowMs: WINDOW_MS, ...shared }),
  )
  const long = `${'x'.repeat(100_000)}@acme`
  const outcomes = await Promise.all(
    Array.from({ length: 30 }, (_, index) => proxies[index % 3]!.reserve(`10.3.0.${index % 5}`, long)),
  )
  t.equal(outcomes.length - refusals(outcomes).length, 6, 'six checks of the login across three proxies')
  const keys = await shared.redis.keys(`${shared.keyPrefix}:*`)
  t.ok(
    keys.length > 0 && keys.every(key => key.length < shared.keyPrefix.length + 64),
    'a 100 kB login makes a short key',
  )
  for (const key of keys) {
    const ttl = await shared.redis.pttl(key)
    t.ok(ttl > 0 && ttl <= WINDOW_MS, `${key} expires within the window`)
  }

  // A check that outlives its window must not leave a negative count (an extra attempt, forever) behind.
  const limiter = createFailureLimiter({ addressLimit: 1, loginLimit: 1, windowMs: 50, ...shared })
  const reservation = await limiter.reserve('10.3.1.1', 'late@acme')
  if (isRefusal(reservation)) return t.fail('granted')
  await new Promise(resolve => setTimeout(resolve, 80))
  await reservation.release()
  t.same(await shared.redis.keys(`${shared.keyPrefix}:addr:10.3.1.1`), [], 'nothing left behind')
  t.notOk(isRefusal(await limiter.reserve('10.3.1.1', 'late@acme')))
  t.match(await limiter.reserve('10.3.1.1', 'late@acme'), { throttle: 'address' }, 'and the limit is still 1')
})

t.test('redis away: counted in memory, with the same limits', async t => {
  const redis = new Redis('redis://127.0.0.1:1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  const limiter = createFailureLimiter({ addressLimit: 5, loginLimit: 7, windowMs: WINDOW_MS, redis })
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, index) => limiter.reserve('10.4.0.1', `user${index}@acme`)),
  )
  t.equal(outcomes.length - refusals(outcomes).length, 5)
  t.ok(await limiter.addressRefusal('10.4.0.1'), 'the cache-hit check reads the local count')
  const spray = await Promise.all(
    Array.from({ length: 20 }, (_, index) => limiter.reserve(`10.4.1.${index}`, 'victim@acme')),
  )
  t.equal(spray.length - refusals(spray).length, 7, 'and the login is throttled locally too')
})

t.test('the window runs from the first failure, on the clock passed in', async t => {
  let now = 1_000_000
  const limiter = createFailureLimiter({ addressLimit: 2, loginLimit: 100, windowMs: WINDOW_MS, now: () => now })
  await limiter.reserve('10.5.0.1', 'a@acme')
  now += 20_000
  await limiter.reserve('10.5.0.1', 'b@acme')
  t.match(
    await limiter.reserve('10.5.0.1', 'c@acme'),
    { throttle: 'address', retryAfterSeconds: 40 },
    'later failures do not stretch it',
  )
  now += 39_000
  t.match(await limiter.addressRefusal('10.5.0.1'), { retryAfterSeconds: 1 })
  now += 1_001
  t.equal(await limiter.addressRefusal('10.5.0.1'), undefined, 'a new window starts clean')
  t.notOk(isRefusal(await limiter.reserve('10.5.0.1', 'c@acme')))
})

t.test('a blocked address stays blocked however much legitimate traffic passes', async t => {
  const limiter = createFailureLimiter({ addressLimit: 3, loginLimit: 1_000_000, windowMs: WINDOW_MS })
  for (let index = 0; index < 3; index++) await limiter.reserve('10.0.0.1', 'alice@acme')
  // More distinct addresses than the store keeps (100 000), each with a cache hit and a released check:
  // neither leaves an entry behind that could push out the prober's record.
  for (let index = 0; index < 100_010; index++) {
    const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:x`
    if ((await limiter.addressRefusal(address)) !== undefined) {
      return t.fail(`address ${index} blocked without a failure`)
    }
    const reservation = await limiter.reserve(address, 'bob@acme')
    if (isRefusal(reservation)) return t.fail(`address ${index} refused`)
    await reservation.release()
  }
  t.ok(await limiter.addressRefusal('10.0.0.1'), 'still blocked')
})

t.test('in memory, at most maxLocalKeys counters are kept: the least recently used go first', async t => {
  const limiter = createFailureLimiter({ addressLimit: 1, loginLimit: 1_000_000, windowMs: WINDOW_MS, maxLocalKeys: 4 })
  // Each failed check keeps two counters (its address and its login): two checks fill the store.
  await limiter.reserve('10.7.0.1', 'a@acme')
  await limiter.reserve('10.7.0.2', 'b@acme')
  await limiter.reserve('10.7.0.3', 'c@acme')
  t.equal(await limiter.addressRefusal('10.7.0.1'), undefined, 'the oldest counters made room')
  t.ok(await limiter.addressRefusal('10.7.0.2'), 'the newer ones stay')
  t.ok(await limiter.addressRefusal('10.7.0.3'))
})
