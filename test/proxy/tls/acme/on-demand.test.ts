// On-demand TLS's gate on a passed clock: answers cached (a no for less long), concurrent handshakes for one
// name share one ask, an ask that fails is not remembered, and asks and orders have budgets that refill.
import t from 'tap'
import { OnDemandGate, refuseEveryHostname } from '../../../../proxy/tls/acme/on-demand.ts'

function setUp(answer: (name: string) => Promise<boolean>, limits = {}) {
  let now = 1_000_000
  const asked: string[] = []
  const gate = new OnDemandGate(
    async name => {
      asked.push(name)
      return await answer(name)
    },
    {
      allowTtlMs: 60_000,
      denyTtlMs: 10_000,
      askBurst: 3,
      asksPerSecond: 1,
      orderBurst: 2,
      ordersPerMinute: 1,
      ...limits,
    },
    () => now,
  )
  return {
    gate,
    asked,
    advance: (ms: number) => {
      now += ms
    },
  }
}

t.test('answers are cached, a no for less long', async t => {
  const { gate, asked, advance } = setUp(async name => name === 'yes.example')
  t.equal(await gate.allowed('yes.example'), true)
  t.equal(await gate.allowed('no.example'), 'not-allowed')
  t.equal(await gate.allowed('yes.example'), true)
  t.equal(await gate.allowed('no.example'), 'not-allowed')
  t.same(asked, ['yes.example', 'no.example'], 'each asked once')
  advance(11_000)
  await gate.allowed('yes.example')
  await gate.allowed('no.example')
  t.same(asked.slice(2), ['no.example'], 'after 11 s only the no is asked again')
  advance(50_000)
  await gate.allowed('yes.example')
  t.same(asked.slice(3), ['yes.example'], 'after a minute the yes too')
})

t.test('concurrent handshakes share one ask; a failed ask is not remembered', async t => {
  let fail = true
  const { gate, asked } = setUp(
    async () => {
      await new Promise(resolve => setTimeout(resolve, 10))
      if (fail) throw new Error('API down')
      return true
    },
    { askBurst: 10 },
  )
  t.same(await Promise.all([gate.allowed('a.example'), gate.allowed('a.example'), gate.allowed('a.example')]), [
    'ask-failed',
    'ask-failed',
    'ask-failed',
  ])
  t.equal(asked.length, 1, 'one ask for three handshakes')
  fail = false
  t.equal(await gate.allowed('a.example'), true, 'asked again after the failure')
})

t.test('asks and orders have budgets that refill', async t => {
  const { gate, asked, advance } = setUp(async () => false)
  const results = []
  for (let i = 0; i < 5; i++) results.push(await gate.allowed(`n${i}.example`))
  t.same(
    results,
    ['not-allowed', 'not-allowed', 'not-allowed', 'ask-rate', 'ask-rate'],
    'three asks, then refused without asking',
  )
  t.equal(asked.length, 3)
  advance(1000)
  t.equal(await gate.allowed('n5.example'), 'not-allowed', 'a second later one more ask')
  t.same([gate.mayOrder(), gate.mayOrder(), gate.mayOrder()], [true, true, false], 'two orders at once, then none')
  advance(60_000)
  t.equal(gate.mayOrder(), true, 'one more a minute later')
})

t.test('the default ask refuses every name', async t => {
  t.equal(await refuseEveryHostname('api.acme-corp.com'), false)
})
