// The edge cache in front of the real API: its reads are shared per tenant for s-maxage, a write through
// the edge is visible on the very next read, and no tenant ever sees another's cached page.
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.js'
import { startEdgeStack } from '../../helpers/edge-stack.js'

t.test('the response cache in front of the real API', async (t) => {
  forEachBackend(t, async (t, backend) => {
    const stack = await startEdgeStack(t, backend)
    const alice = await stack.addLogin('alice')
    const bob = await stack.addLogin('bob')

    const created = await stack.request('/api/v1/projects', { as: alice, method: 'POST', body: JSON.stringify({ name: 'Alice only' }) })
    t.equal(created.status, 201)
    t.equal(created.headers['cache-status'], 'Gatehouse; fwd=method; fwd-status=201')

    const first = await stack.request('/api/v1/projects', { as: alice })
    t.equal(first.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; stored')
    t.same(first.json().data.map((project: { name: string }) => project.name), ['Alice only'])
    const hit = await stack.request('/api/v1/projects', { as: alice, http2: false })
    t.match(hit.headers['cache-status'], /^Gatehouse; hit; ttl=\d$/)
    t.equal(hit.body, first.body)

    const notModified = await stack.request('/api/v1/projects', { as: alice, headers: { 'if-none-match': String(first.headers.etag) } })
    t.equal(notModified.status, 304)

    const forBob = await stack.request('/api/v1/projects', { as: bob })
    t.equal(forBob.status, 200)
    t.same(forBob.json().data, [], 'bob sees his own (empty) list, not alice\'s cached one')
    t.match(forBob.headers['cache-status'], /fwd=uri-miss/)

    const renamed = await stack.request(`/api/v1/projects/${created.json().id}`, { as: alice, method: 'PATCH', body: JSON.stringify({ name: 'Renamed' }) })
    t.equal(renamed.status, 200)
    const afterWrite = await stack.request('/api/v1/projects', { as: alice })
    t.match(afterWrite.headers['cache-status'], /fwd=uri-miss/)
    t.same(afterWrite.json().data.map((project: { name: string }) => project.name), ['Renamed'], 'the next read sees the write')

    const bobCannotWrite = await stack.request(`/api/v1/projects/${created.json().id}`, { as: bob, method: 'DELETE' })
    t.equal(bobCannotWrite.status, 404)
    t.match((await stack.request('/api/v1/projects', { as: alice })).headers['cache-status'], /hit/, 'a refused write by another tenant invalidates nothing')
  })
})
