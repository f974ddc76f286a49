// Two API instances behind one proxy: requests are spread over both, an instance whose /ready fails leaves
// the rotation and comes back when it recovers, and a GET that finds an instance dead is sent to the other.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { startScriptedStack, type ScriptedStack } from '../../helpers/scripted-upstream.ts'

interface Instance {
  name: string
  url: string
  ready: boolean
  stop(): Promise<void>
  held: Array<() => void>
}

async function startInstance(t: Test, name: string): Promise<Instance> {
  const instance: Instance = { name, url: '', ready: true, stop: async () => {}, held: [] }
  const server: Server = createServer((request, response) => {
    if (request.url === '/ready') {
      response.writeHead(instance.ready ? 200 : 503).end()
      return
    }
    const answer = (): void => {
      response
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ name }))
    }
    // /api/v1/held…: answered only when the test releases it, to keep a request in flight at this instance.
    if (request.url?.startsWith('/api/v1/held') === true) instance.held.push(answer)
    else answer()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  instance.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let open = true
  instance.stop = async () => {
    if (!open) return
    open = false
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
  t.teardown(instance.stop)
  return instance
}

async function servedBy(stack: ScriptedStack, count: number): Promise<string[]> {
  const names: string[] = []
  for (let index = 0; index < count; index++) {
    const response = await stack.request('/api/v1/projects', { as: stack.logins[0] })
    names.push(response.status === 200 ? response.json().name : `status ${response.status}`)
  }
  return names
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error('condition never held')
}

t.test('requests are balanced, and an unready instance leaves the rotation until it recovers', async t => {
  const a = await startInstance(t, 'a')
  const b = await startInstance(t, 'b')
  const stack = await startScriptedStack(t, { UPSTREAM_URLS: `${a.url},${b.url}`, UPSTREAM_HEALTH_INTERVAL_MS: '100' })
  const upOf = (instance: Instance): Promise<number> =>
    stack.metric('gatehouse_proxy_upstream_up', { upstream: instance.url })

  t.same(new Set(await servedBy(stack, 10)), new Set(['a', 'b']), 'both instances serve')

  b.ready = false
  await until(async () => (await upOf(b)) === 0)
  t.same(new Set(await servedBy(stack, 10)), new Set(['a']), 'only the ready instance serves')
  t.equal((await stack.request('/ready')).status, 200, 'the edge is ready while one instance is')

  a.ready = false
  await until(async () => (await upOf(b)) === 1)
  t.equal(await upOf(a), 1, 'with none ready, all are in rotation: the edge keeps answering')
  t.equal((await stack.request('/ready')).status, 503, 'and says it is not ready')

  a.ready = true
  b.ready = true
  await until(async () => (await upOf(a)) === 1 && (await upOf(b)) === 1)
  t.same(new Set(await servedBy(stack, 10)), new Set(['a', 'b']), 'both serve again')
})

t.test('a GET that finds its instance dead is sent to the other one at once', async t => {
  const a = await startInstance(t, 'a')
  const b = await startInstance(t, 'b')
  // Checks far apart: the retry, not the health check, must keep these requests whole.
  const stack = await startScriptedStack(t, {
    UPSTREAM_URLS: `${a.url},${b.url}`,
    UPSTREAM_HEALTH_INTERVAL_MS: '600000',
  })
  t.same(new Set(await servedBy(stack, 6)), new Set(['a', 'b']))
  await b.stop()
  t.same(await servedBy(stack, 10), Array(10).fill('a'), 'every GET answered by the live instance')
})

t.test('an instance leaving the rotation while it still answers requests gets no new ones', async t => {
  const a = await startInstance(t, 'a')
  const b = await startInstance(t, 'b')
  const stack = await startScriptedStack(t, { UPSTREAM_URLS: `${a.url},${b.url}`, UPSTREAM_HEALTH_INTERVAL_MS: '100' })
  // Distinct URLs: the cache would make concurrent misses for one URL a single upstream request.
  const held = Array.from({ length: 6 }, (_, index) => stack.request(`/api/v1/held?${index}`, { as: stack.logins[0] }))
  await until(async () => a.held.length + b.held.length === held.length)
  t.ok(b.held.length > 0, 'b holds requests in flight')

  b.ready = false
  await until(async () => (await stack.metric('gatehouse_proxy_upstream_up', { upstream: b.url })) === 0)
  t.same(
    await servedBy(stack, 10),
    Array(10).fill('a'),
    'new requests all go to a: none fails on the pool of b, still closing',
  )
  for (const release of [...a.held, ...b.held]) release()
  t.same(
    (await Promise.all(held)).map(response => response.status),
    Array(held.length).fill(200),
    'and b finishes what it held',
  )
})
