// The edge cache in front of the real API: its reads are shared per tenant for s-maxage, a write through
// the edge is visible on the very next read, and no tenant ever sees another's cached page.
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { startEdgeStack } from '../../helpers/edge-stack.ts'

t.test('the response cache in front of the real API', async t => {
  forEachBackend(t, async (t, backend) => {
    const stack = await startEdgeStack(t, backend)
    const alice = await stack.addLogin('alice')
    const bob = await stack.addLogin('bob')

    const created = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ name: 'Alice only' }),
    })
    t.equal(created.status, 201)
    t.equal(created.headers['cache-status'], 'Gatehouse; fwd=method; fwd-status=201')

    const first = await stack.request('/api/v1/projects', { as: alice })
    t.equal(first.headers['cache-status'], 'Gatehouse; fwd=uri-miss; fwd-status=200; stored')
    t.same(
      first.json().data.map((project: { name: string }) => project.name),
      ['Alice only'],
    )
    const hit = await stack.request('/api/v1/projects', { as: alice, http2: false })
    t.match(hit.headers['cache-status'], /^Gatehouse; hit; ttl=\d$/)
    t.equal(hit.body, first.body)

    const notModified = await stack.request('/api/v1/projects', {
      as: alice,
      headers: { 'if-none-match': String(first.headers.etag) },
    })
    t.equal(notModified.status, 304)

    const forBob = await stack.request('/api/v1/projects', { as: bob })
    t.equal(forBob.status, 200)
    t.same(forBob.json().data, [], "bob sees his own (empty) list, not alice's cached one")
    t.match(forBob.headers['cache-status'], /fwd=uri-miss/)

    const renamed = await stack.request(`/api/v1/projects/${created.json().id}`, {
      as: alice,
      method: 'PATCH',
      body: JSON.stringify({ name: 'Renamed' }),
    })
    t.equal(renamed.status, 200)
    const afterWrite = await stack.request('/api/v1/projects', { as: alice })
    t.match(afterWrite.headers['cache-status'], /fwd=uri-miss/)
    t.same(
      afterWrite.json().data.map((project: { name: string }) => project.name),
      ['Renamed'],
      'the next read sees the write',
    )

    // GraphQL over POST: a query leaves the cache alone, a mutation invalidates like any write.
    const graphqlQuery = await stack.request('/graphql', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ query: '{ viewer { user } }' }),
    })
    t.equal(graphqlQuery.status, 200)
    t.equal(graphqlQuery.headers['x-gatehouse-read-only'], undefined, "the API's note to the edge stays at the edge")
    t.match(
      (await stack.request('/api/v1/projects', { as: alice })).headers['cache-status'],
      /hit/,
      'a GraphQL query invalidates nothing',
    )
    const graphqlMutation = await stack.request('/graphql', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ query: 'mutation { createProject(input: { name: "Second" }) { id } }' }),
    })
    t.equal(graphqlMutation.status, 200)
    const afterMutation = await stack.request('/api/v1/projects', { as: alice })
    t.match(afterMutation.headers['cache-status'], /fwd=uri-miss/, 'a GraphQL mutation invalidates')
    t.equal(afterMutation.json().data.length, 2)

    const bobCannotWrite = await stack.request(`/api/v1/projects/${created.json().id}`, { as: bob, method: 'DELETE' })
    t.equal(bobCannotWrite.status, 404)
    t.match(
      (await stack.request('/api/v1/projects', { as: alice })).headers['cache-status'],
      /hit/,
      'a refused write by another tenant invalidates nothing',
    )
  })
})
