// Expensive or unauthenticated GraphQL requests are refused before any SQL runs: too deep, too costly
// (wide `first`, alias fans), batched, or without a signed identity.
import t, { type Test } from 'tap'
import { getIntrospectionQuery } from 'graphql'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'
import { gql, seed, sqlCounter } from './fixtures/graphql.ts'

forEachBackend(
  t,
  async (t, backend) => {
    // The defaults (depth 7, cost 5000) and a tighter configuration, to see the settings are the ones applied.
    const app = await buildTestApp(t, backend)
    const tight = await buildTestApp(t, backend, { GRAPHQL_MAX_DEPTH: '5', GRAPHQL_MAX_COST: '300' })
    const counter = sqlCounter(backend)
    const tenant = await backend.createTenant()
    await seed(backend, tenant, 3, 3)
    const caller = callerFor(app, tenant)
    const tightCaller = callerFor(tight, tenant)
    // Each app caches the tenant lookup its identity check does; warm both so that only a query's own SQL counts.
    t.equal((await gql(caller, '{ viewer { user } }')).status, 200)
    t.equal((await gql(tightCaller, '{ viewer { user } }')).status, 200)

    /** Runs `send` and asserts it was refused with `code`, a message matching `message`, and no SQL at all. */
    async function assertRefusedWithoutSql(
      t: Test,
      send: () => Promise<{
        status: number
        errors: Array<{ message: string; extensions: { code: string } }> | undefined
        data: unknown
      }>,
      code: string,
      message: RegExp,
    ): Promise<void> {
      counter.reset()
      const result = await send()
      t.equal(result.status, 400)
      t.equal(result.data, null)
      t.equal(result.errors?.length, 1)
      t.equal(result.errors?.[0]?.extensions.code, code)
      t.match(result.errors?.[0]?.message, message)
      t.same(counter.statements, [], 'no SQL statement ran')
    }

    t.test('deeper than GRAPHQL_MAX_DEPTH is refused, also when hidden in fragments', async t => {
      const atLimit = await gql(tightCaller, '{ projects(first: 2) { nodes { tasks(first: 2) { project { id } } } } }')
      t.equal(atLimit.status, 200, 'depth 5 is allowed at a limit of 5')
      t.equal(atLimit.errors, undefined)

      await assertRefusedWithoutSql(
        t,
        () =>
          gql(
            tightCaller,
            '{ projects(first: 2) { nodes { tasks(first: 2) { project { tasks(first: 2) { id } } } } } }',
          ),
        'GH_QUERY_TOO_DEEP',
        /depth 6 exceeds the limit of 5/,
      )
      await assertRefusedWithoutSql(
        t,
        () =>
          gql(
            tightCaller,
            `
      query Deep { projects(first: 2) { ...P } }
      fragment P on ProjectConnection { nodes { tasks(first: 2) { ...T } } }
      fragment T on Task { project { tasks(first: 2) { id } } }`,
          ),
        'GH_QUERY_TOO_DEEP',
        /depth 6 exceeds the limit of 5/,
      )
      // Default limit: 7.
      await assertRefusedWithoutSql(
        t,
        () => gql(caller, '{ projects { nodes { tasks { project { tasks { project { tasks { id } } } } } } } }'),
        'GH_QUERY_TOO_DEEP',
        /depth 8 exceeds the limit of 7/,
      )
      // Introspection reads the schema, not the database: GraphiQL's 15-level query must pass the data limit.
      const introspection = await gql(
        tightCaller,
        getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true }),
      )
      t.equal(introspection.status, 200)
      t.equal(introspection.errors, undefined)
      t.ok((introspection.data as { __schema: { types: unknown[] } }).__schema.types.length > 10)
      // …but introspection cannot carry a deep data query past it.
      await assertRefusedWithoutSql(
        t,
        () =>
          gql(
            tightCaller,
            '{ __typename projects(first: 2) { nodes { tasks(first: 2) { project { tasks(first: 2) { id } } } } } }',
          ),
        'GH_QUERY_TOO_DEEP',
        /depth 6 exceeds the limit of 5/,
      )
    })

    t.test('costlier than GRAPHQL_MAX_COST is refused: lists multiply by first', async t => {
      // projects: 1 + 100 × (nodes: 1 + (tasks: 1 + 100 × id)) = 10201 > 5000
      await assertRefusedWithoutSql(
        t,
        () => gql(caller, '{ projects(first: 100) { nodes { tasks(first: 100) { id } } } }'),
        'GH_QUERY_TOO_COMPLEX',
        /cost 10201 exceeds the limit of 5000/,
      )
      // The same shape through variables is priced with their values.
      const query = 'query ($n: Int!) { projects(first: $n) { nodes { tasks(first: $n) { id } } } }'
      await assertRefusedWithoutSql(t, () => gql(caller, query, { n: 100 }), 'GH_QUERY_TOO_COMPLEX', /cost 10201 /)
      const cheap = await gql(caller, query, { n: 2 })
      t.equal(cheap.status, 200)
      t.equal(cheap.errors, undefined)
      // A tighter limit applies too: tasks default to first 20, so 1 + 20 × (1 + 1 + 1 + 20 × 1) = 461 > 300.
      await assertRefusedWithoutSql(
        t,
        () => gql(tightCaller, '{ projects { nodes { id tasks { id } } next } }'),
        'GH_QUERY_TOO_COMPLEX',
        /cost \d+ exceeds the limit of 300/,
      )
    })

    t.test('alias bombs are priced per alias, also through fragments', async t => {
      const aliases = Array.from({ length: 60 }, (_, i) => `p${i}: projects(first: 100) { next }`).join('\n')
      await assertRefusedWithoutSql(
        t,
        () => gql(caller, `{ ${aliases} }`),
        'GH_QUERY_TOO_COMPLEX',
        /cost 6060 exceeds the limit of 5000/,
      )
      const spreads = Array.from({ length: 60 }, (_, i) => `p${i}: projects(first: 100) { ...Page }`).join('\n')
      await assertRefusedWithoutSql(
        t,
        () => gql(caller, `{ ${spreads} } fragment Page on ProjectConnection { next }`),
        'GH_QUERY_TOO_COMPLEX',
        /cost 6060 /,
      )
      const cheapFields = Array.from({ length: 2600 }, (_, i) => `v${i}: viewer { user }`).join(' ')
      await assertRefusedWithoutSql(t, () => gql(caller, `{ ${cheapFields} }`), 'GH_QUERY_TOO_COMPLEX', /cost 5200 /)
    })

    t.test(
      'only the chosen operation of a document is priced, and a wrong operation name is a client error',
      async t => {
        const document =
          'query Cheap { viewer { user } } query Costly { projects(first: 100) { nodes { tasks(first: 100) { id } } } }'
        const send = (operationName: string) =>
          callerFor(app, tenant).request({
            method: 'POST',
            url: '/graphql',
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify({ query: document, operationName }),
          })
        const cheap = await send('Cheap')
        t.equal(cheap.statusCode, 200)
        t.same(cheap.json(), { data: { viewer: { user: 'alice' } } })
        counter.reset()
        const costly = await send('Costly')
        t.equal(costly.statusCode, 400)
        t.match(costly.json(), { data: null, errors: [{ extensions: { code: 'GH_QUERY_TOO_COMPLEX' } }] })
        t.same(counter.statements, [])

        for (const [query, operationName] of [
          ['{ viewer { user } }', 'Named'],
          [document, 'Missing'],
        ]) {
          const response = await callerFor(app, tenant).request({
            method: 'POST',
            url: '/graphql',
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify({ query, operationName }),
          })
          t.equal(response.statusCode, 400, `operationName ${operationName}`)
          t.match(response.json(), { data: null, errors: [{ message: /Named|Missing/, extensions: { status: 400 } }] })
        }
      },
    )

    t.test('GET requests are limited the same way', async t => {
      const query = encodeURIComponent('{ projects(first: 100) { nodes { tasks(first: 100) { id } } } }')
      counter.reset()
      const response = await caller.request({ method: 'GET', url: `/graphql?query=${query}` })
      t.equal(response.statusCode, 400)
      t.match(response.json(), { data: null, errors: [{ extensions: { code: 'GH_QUERY_TOO_COMPLEX' } }] })
      t.same(counter.statements, [])

      // Over GET the operation name is in the query string; only that operation is priced.
      const document = encodeURIComponent(
        'query Cheap { viewer { user } } query Costly { projects(first: 100) { nodes { tasks(first: 100) { id } } } }',
      )
      const cheap = await caller.request({ method: 'GET', url: `/graphql?query=${document}&operationName=Cheap` })
      t.equal(cheap.statusCode, 200)
      t.same(cheap.json(), { data: { viewer: { user: 'alice' } } })
      const costly = await caller.request({ method: 'GET', url: `/graphql?query=${document}&operationName=Costly` })
      t.equal(costly.statusCode, 400)
      t.match(costly.json(), { errors: [{ extensions: { code: 'GH_QUERY_TOO_COMPLEX' } }] })
    })

    t.test('batched queries are refused', async t => {
      counter.reset()
      const response = await caller.request({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify([{ query: '{ viewer { user } }' }, { query: '{ projects { next } }' }]),
      })
      t.equal(response.statusCode, 400)
      t.match(response.json(), {
        data: null,
        errors: [{ message: /Batched queries are not supported/, extensions: { status: 400 } }],
      })
      t.same(counter.statements, [])
    })

    t.test('without a valid signed identity: 401 problem+json, and no SQL', async t => {
      const cases: Array<[string, Record<string, string>]> = [
        ['no identity', {}],
        ['forged identity headers', { 'x-gatehouse-tenant': tenant.slug, 'x-gatehouse-user': 'alice' }],
      ]
      for (const [name, headers] of cases) {
        counter.reset()
        const response = await app.inject({
          method: 'POST',
          url: '/graphql',
          headers: { 'content-type': 'application/json', ...headers },
          payload: JSON.stringify({ query: '{ projects { nodes { id } } }' }),
        })
        t.equal(response.statusCode, 401, name)
        t.match(response.headers['content-type'], /^application\/problem\+json/, name)
        t.match(
          response.json(),
          { type: 'urn:gatehouse:problem:unauthenticated', status: 401, code: 'GH_UNAUTHENTICATED' },
          name,
        )
        t.same(counter.statements, [], `${name}: no SQL`)
      }
      const signedForOtherSecret = await callerFor(
        app,
        tenant,
        'alice',
        'another-secret-that-is-at-least-32-characters',
      ).graphql('{ viewer { user } }')
      t.equal(signedForOtherSecret.statusCode, 401)
      t.match(signedForOtherSecret.json(), { code: 'GH_UNAUTHENTICATED' })
    })
  },
  { emitQueryEvents: true },
)
