// The edge-overhead section's upstream: the same small body to everything, shareable unless the query says cache=no.
import t from 'tap'
import { request } from 'undici'
import { CACHEABLE, createTrivialUpstream, trivialAnswer, UNCACHEABLE } from '../../bench/trivial-upstream.ts'

t.test('cacheable for a minute, except with cache=no in the query', async t => {
  t.equal(trivialAnswer('/api/v1/edge-overhead').headers['cache-control'], CACHEABLE)
  t.equal(trivialAnswer('/api/v1/edge-overhead?cache=no').headers['cache-control'], UNCACHEABLE)
  t.equal(trivialAnswer('/x?a=1&cache=no').headers['cache-control'], UNCACHEABLE)
  t.equal(trivialAnswer('/x?cache=nope').headers['cache-control'], CACHEABLE)
  t.equal(trivialAnswer('/x?nocache=no').headers['cache-control'], CACHEABLE)
})

t.test('about a kilobyte of JSON, its length declared', async t => {
  const { body, headers, status } = trivialAnswer('/')
  t.equal(status, 200)
  t.ok(body.length > 900 && body.length < 1100, `${body.length} bytes`)
  t.equal(headers['content-length'], body.length)
  t.equal((JSON.parse(body.toString()) as { items: unknown[] }).items.length, 8)
})

t.test('served over HTTP with whatever identity headers come along', async t => {
  const server = createTrivialUpstream()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as { port: number }
  const response = await request(`http://127.0.0.1:${port}/api/v1/edge-overhead?cache=no`, {
    headers: { 'x-gatehouse-tenant': 'acme', 'x-gatehouse-signature': 'v2=not-checked' },
  })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], UNCACHEABLE)
  t.equal((await response.body.text()).length, trivialAnswer('/').body.length)
})

t.test('body=page: the 20-project page the compression loads use, cacheable or not as the others', async t => {
  const page = trivialAnswer('/api/v1/edge-overhead?body=page')
  t.equal((JSON.parse(page.body.toString()) as { items: unknown[] }).items.length, 20)
  t.ok(page.body.length > 4000, `${page.body.length} bytes`)
  t.equal(page.headers['content-length'], page.body.length)
  t.equal(page.headers['cache-control'], CACHEABLE)
  t.equal(trivialAnswer('/api/v1/edge-overhead?body=page&cache=no').headers['cache-control'], UNCACHEABLE)
})
