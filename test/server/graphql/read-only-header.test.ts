// The API tells the edge which POSTs to /graphql changed nothing, so that a GraphQL query does not
// invalidate the tenant's cached responses the way a mutation must.
import t from 'tap'
import { READ_ONLY_RESPONSE_HEADER } from '../../../common/edge-protocol.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)
  const caller = callerFor(app, await backend.createTenant())

  const query = await caller.graphql('{ projects(first: 1) { nodes { id } } }')
  t.equal(query.statusCode, 200)
  t.equal(query.headers[READ_ONLY_RESPONSE_HEADER], '1', 'a query is marked read-only')

  const named = await caller.request({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({
      query: 'query Read { viewer { user } } mutation Write { createProject(input: { name: "x" }) { id } }',
      operationName: 'Write',
    }),
  })
  t.equal(named.statusCode, 200)
  t.equal(
    named.headers[READ_ONLY_RESPONSE_HEADER],
    undefined,
    'the operation that runs decides, not the first in the document',
  )

  const mutation = await caller.graphql('mutation { createProject(input: { name: "Changed" }) { id } }')
  t.equal(mutation.statusCode, 200)
  t.equal(mutation.headers[READ_ONLY_RESPONSE_HEADER], undefined, 'a mutation is not')
})
