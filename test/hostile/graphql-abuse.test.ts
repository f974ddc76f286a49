// Attacks /graphql with expensive or malformed documents: wide and aliased selections, fragment cycles and fragment
// doubling, huge `first`, batches, documents near the body limit, invalid UTF-8, introspection bombs, non-GraphQL
// queries. Each is refused quickly with a 4xx in GraphQL's shape (or answered 200 when it is allowed), never a 5xx.
import t, { type Test } from 'tap'
import { getIntrospectionQuery } from 'graphql'
import type { FastifyInstance } from 'fastify'
import { forEachBackend } from '../helpers/backends.ts'
import { buildTestApp, callerFor, type Caller } from '../helpers/build-app.ts'
import { seed, sqlCounter } from '../server/graphql/fixtures/graphql.ts'

interface Answer {
  status: number
  ms: number
  data: unknown
  errors: Array<{ message: string; extensions: { code: string; status: number } }> | undefined
}

// Generous for a loaded CI machine, yet far below what the bombs cost unbounded (seconds to minutes each).
const QUICK_MS = 3000
const MIB = 1024 * 1024

const aliases = (count: number, selection: (i: number) => string): string =>
  Array.from({ length: count }, (_, i) => `a${i}: ${selection(i)}`).join(' ')
/** Fragments that each spread the next one twice: 2^levels fields once expanded, from a document of a kilobyte. */
const doubling = (levels: number, on: string, leaf: string): string =>
  Array.from({ length: levels }, (_, i) => `fragment F${i} on ${on} { ...F${i + 1} ...F${i + 1} }`).join('\n') +
  `\nfragment F${levels} on ${on} { ${leaf} }`
// The selection of the standard introspection query without its operation, to repeat under aliases.
const standardIntrospection = getIntrospectionQuery()
const schemaSelection = standardIntrospection.slice(
  standardIntrospection.indexOf('__schema'),
  standardIntrospection.lastIndexOf('}', standardIntrospection.indexOf('fragment')),
)
const introspectionFragments = standardIntrospection.slice(standardIntrospection.indexOf('fragment'))

forEachBackend(
  t,
  async (t, backend) => {
    const app = await buildTestApp(t, backend)
    const tight = await buildTestApp(t, backend, { GRAPHQL_MAX_DEPTH: '5', GRAPHQL_MAX_COST: '300' })
    const counter = sqlCounter(backend)
    const tenant = await backend.createTenant()
    const { projects } = await seed(backend, tenant, 3, 3)
    const caller = callerFor(app, tenant)
    const tightCaller = callerFor(tight, tenant)

    async function send(
      via: Caller,
      payload: string | Buffer,
      method: 'POST' | 'GET' = 'POST',
      query = '',
    ): Promise<Answer> {
      const started = performance.now()
      const response = await via.request(
        method === 'POST'
          ? { method, url: '/graphql', headers: { 'content-type': 'application/json' }, payload }
          : { method, url: `/graphql?${query}` },
      )
      const ms = performance.now() - started
      const body = response.json<{ data?: unknown; errors?: Answer['errors'] }>()
      return { status: response.statusCode, ms, data: body.data, errors: body.errors }
    }
    const post = (query: string, variables?: Record<string, unknown>, via = caller): Promise<Answer> =>
      send(via, JSON.stringify({ query, ...(variables !== undefined ? { variables } : {}) }))
    // Warm both apps' tenant lookups, so that only a document's own SQL counts.
    t.equal((await post('{ viewer { user } }')).status, 200)
    t.equal((await post('{ viewer { user } }', undefined, tightCaller)).status, 200)

    /** Refused with `status` and `code` (and `message`), quickly, in GraphQL's shape, and before any SQL ran. */
    async function assertRefused(
      t: Test,
      what: string,
      answer: () => Promise<Answer>,
      status: number,
      code: string | RegExp,
      message?: RegExp,
    ): Promise<void> {
      counter.reset()
      const result = await answer()
      t.equal(result.status, status, `${what}: status`)
      t.equal(result.data, null, `${what}: no data`)
      t.match(result.errors?.[0]?.extensions, { code, status }, `${what}: error code`)
      if (message !== undefined) t.match(result.errors?.[0]?.message, message, `${what}: message`)
      t.ok(result.ms < QUICK_MS, `${what}: refused in ${Math.round(result.ms)} ms`)
      t.same(counter.statements, [], `${what}: no SQL ran`)
    }

    t.test('wide and aliased selections are priced before they run', async t => {
      const wide = await post(`{ projects(first: 10) { next nodes { id name description createdAt updatedAt
      tasks(first: 10) { id title description status priority dueDate createdAt updatedAt project { id name } } } } }`)
      t.equal(wide.status, 200, 'every field of every type, within the cost limit')
      t.equal((wide.data as { projects: { nodes: unknown[] } }).projects.nodes.length, projects.length)
      await assertRefused(
        t,
        '20 000 aliased fields',
        () => post(`{ ${aliases(20_000, () => '__typename')} }`),
        400,
        'GH_QUERY_TOO_COMPLEX',
        /more than 10000 fields/,
      )
      await assertRefused(
        t,
        'aliased lists',
        () => post(`{ ${aliases(100, () => 'projects(first: 100) { nodes { id } }')} }`),
        400,
        'GH_QUERY_TOO_COMPLEX',
      )
    })

    t.test('fragment cycles, deep fragment chains and fragment doubling are refused quickly', async t => {
      await assertRefused(
        t,
        'a fragment cycle',
        () => post('{ viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...A }'),
        400,
        'GRAPHQL_VALIDATION_FAILED',
        /Cannot spread fragment "A" within itself/,
      )
      const chain =
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? `fragment C${i} on Project { tasks(first: 1) { ...C${i + 1} } }`
            : `fragment C${i} on Task { project { ...C${i + 1} } }`,
        ).join('\n') + '\nfragment C50 on Project { id }'
      await assertRefused(
        t,
        'a chain of 50 nested fragments',
        () => post(`{ projects(first: 1) { nodes { ...C0 } } } ${chain}`),
        400,
        'GH_QUERY_TOO_DEEP',
        /depth 53 /,
      )
      // Measured without the depth check's memory of fragments: 22 levels took 4.5 s, 30 would take minutes.
      await assertRefused(
        t,
        '40 levels of doubled fragments',
        () => post(`{ viewer { ...F0 } } ${doubling(40, 'Viewer', 'user')}`),
        400,
        'GH_QUERY_TOO_COMPLEX',
        /more than 10000 fields/,
      )
      await assertRefused(
        t,
        'a mutation of doubled fragments',
        () => post(`mutation { ...F0 } ${doubling(40, 'Mutation', `deleteTask(id: "${projects[0]!.id}")`)}`),
        400,
        'GH_QUERY_TOO_COMPLEX',
        /more than 10000 fields/,
      )
      const small = await post(`{ viewer { ...F0 } } ${doubling(4, 'Viewer', 'user')}`)
      t.same(
        { status: small.status, data: small.data },
        { status: 200, data: { viewer: { user: 'alice' } } },
        'a few doubled fragments merge into one field and run',
      )
    })

    t.test('huge, overflowing and negative `first`', async t => {
      await assertRefused(
        t,
        'first: 2^31 - 1',
        () => post('{ projects(first: 2147483647) { next } }'),
        400,
        'GH_QUERY_TOO_COMPLEX',
        /cost 2147483648 /,
      )
      await assertRefused(
        t,
        'the same through a variable',
        () => post('query ($n: Int) { projects(first: $n) { nodes { tasks(first: $n) { id } } } }', { n: 2147483647 }),
        400,
        'GH_QUERY_TOO_COMPLEX',
      )
      await assertRefused(
        t,
        'first beyond 32 bits',
        () => post('{ projects(first: 99999999999) { next } }'),
        400,
        'GRAPHQL_VALIDATION_FAILED',
        /32-bit/,
      )
      for (const first of [0, -1, -2147483648]) {
        await assertRefused(
          t,
          `first: ${first}`,
          () => post(`{ projects(first: ${first}) { next } }`),
          400,
          'GH_INVALID_INPUT',
        )
      }
    })

    t.test('batching bombs are refused whole', async t => {
      const thousands = JSON.stringify(
        Array.from({ length: 10_000 }, () => ({ query: '{ projects(first: 100) { nodes { id } } }' })),
      )
      for (const [what, payload] of [
        ['10 000 operations', thousands],
        ['an empty batch', '[]'],
        ['a batch of numbers', '[1, 2, 3]'],
      ]) {
        await assertRefused(
          t,
          what!,
          () => send(caller, payload!),
          400,
          'GH_INVALID_INPUT',
          /Batched queries are not supported/,
        )
      }
    })

    t.test('documents up to the body limit are read, larger ones are a 413', async t => {
      const padded = (size: number): string => {
        const base = JSON.stringify({ query: '{ viewer { user } } #' })
        return base.replace('#', `#${'x'.repeat(size - base.length)}`)
      }
      const under = await send(caller, padded(MIB - 16))
      t.same(
        { status: under.status, data: under.data },
        { status: 200, data: { viewer: { user: 'alice' } } },
        'a document just under 1 MiB runs',
      )
      await assertRefused(t, 'just over 1 MiB', () => send(caller, padded(MIB + 16)), 413, 'FST_ERR_CTP_BODY_TOO_LARGE')
      await assertRefused(
        t,
        'a megabyte of fields',
        () => post(`{ viewer { ${'user '.repeat(200_000)} } }`),
        400,
        'GRAPHQL_VALIDATION_FAILED',
      )
      await assertRefused(
        t,
        'lists nested 100 000 deep',
        () => post(`{ projects(q: ${'['.repeat(100_000)}${']'.repeat(100_000)}) { next } }`),
        400,
        'GRAPHQL_VALIDATION_FAILED',
      )
      await assertRefused(
        t,
        'selections nested 80 000 deep',
        () => post(`{ ${'viewer { '.repeat(80_000)}user${' }'.repeat(80_000)} }`),
        400,
        'GRAPHQL_VALIDATION_FAILED',
      )
      await assertRefused(
        t,
        'a 900 kB argument',
        () => post(`{ projects(q: "${'x'.repeat(900_000)}") { next } }`),
        400,
        'GH_INVALID_INPUT',
        /q: must not have more than 200 characters/,
      )
    })

    t.test('a body that is not UTF-8 is a malformed body, whatever the broken sequence', async t => {
      const sequences = {
        'a stray continuation byte': [0x80],
        'an invalid byte': [0xff],
        'an overlong slash': [0xc0, 0xaf],
        'a UTF-8-encoded surrogate': [0xed, 0xa0, 0x80],
        'a truncated sequence': [0xe2, 0x82],
      }
      for (const [what, bytes] of Object.entries(sequences)) {
        const payload = Buffer.concat([
          Buffer.from('{"query":"{ projects(q: \\"'),
          Buffer.from(bytes),
          Buffer.from('\\") { next } }"}'),
        ])
        await assertRefused(t, what, () => send(caller, payload), 400, 'GH_MALFORMED_BODY', /not valid UTF-8/)
      }
    })

    t.test(
      'introspection: GraphiQL and the full standard query pass, bombs and fans of whole-schema dumps do not',
      async t => {
        for (const [what, via] of [
          ['default limits', caller],
          ['tight limits', tightCaller],
        ] as const) {
          for (const options of [
            {},
            { inputValueDeprecation: true, schemaDescription: true },
            {
              descriptions: true,
              specifiedByUrl: true,
              directiveIsRepeatable: true,
              schemaDescription: true,
              inputValueDeprecation: true,
              oneOf: true,
            },
          ]) {
            const answer = await post(getIntrospectionQuery(options), undefined, via)
            t.equal(answer.status, 200, `${what}: ${JSON.stringify(options)}`)
            t.equal(answer.errors, undefined)
          }
        }
        const twice = await post(`{ a: ${schemaSelection} b: ${schemaSelection} } ${introspectionFragments}`)
        t.equal(
          twice.status,
          200,
          'two whole-schema dumps in one request still pass (the limit leaves room for other tools)',
        )
        await assertRefused(
          t,
          'three whole-schema dumps',
          () => post(`{ ${aliases(3, () => schemaSelection)} } ${introspectionFragments}`),
          400,
          'GH_QUERY_TOO_COMPLEX',
          /Introspection cost \d+ exceeds the limit of \d+/,
        )
        // Before the introspection limit, 500 of these stayed under the data cost limit and answered 2.7 MB in a
        // second.
        await assertRefused(
          t,
          'an alias fan of type dumps',
          () =>
            post(
              `{ ${aliases(500, () => '__schema { types { name fields { name args { name } type { name } } } }')} }`,
            ),
          400,
          'GH_QUERY_TOO_COMPLEX',
          /Introspection cost/,
        )
        await assertRefused(
          t,
          'introspection nested through fields',
          () =>
            post(
              '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }',
            ),
          400,
          'GRAPHQL_VALIDATION_FAILED',
          /Maximum introspection depth exceeded/,
        )
        const lookups = await post(`{ ${aliases(100, () => '__type(name: "Task") { name fields { name } }')} }`)
        t.equal(lookups.status, 200, 'a hundred single-type lookups are cheap and allowed')
      },
    )

    t.test('queries that are not GraphQL text, and variables that are not an object, are client errors', async t => {
      const cases: Array<[string, () => Promise<Answer>, RegExp]> = [
        ['a number as the query', () => send(caller, '{"query": 5}'), /does not parse as a GraphQL document/],
        ['true as the query', () => send(caller, '{"query": true}'), /does not parse as a GraphQL document/],
        [
          'a JSON AST as the query',
          () => post(JSON.stringify({ kind: 'Document', definitions: [{}] })),
          /does not parse as a GraphQL document/,
        ],
        [
          'a number as the query over GET',
          () => send(caller, '', 'GET', 'query=5'),
          /does not parse as a GraphQL document/,
        ],
        [
          'a number as variables over GET',
          () => send(caller, '', 'GET', `query=${encodeURIComponent('{ viewer { user } }')}&variables=5`),
          /variables must be a JSON object/,
        ],
        [
          'a list as variables over GET',
          () =>
            send(
              caller,
              '',
              'GET',
              `query=${encodeURIComponent('{ viewer { user } }')}&variables=${encodeURIComponent('[1]')}`,
            ),
          /variables must be a JSON object/,
        ],
      ]
      for (const [what, answer, message] of cases) {
        await assertRefused(t, what, answer, 400, 'GH_INVALID_INPUT', message)
      }
      const nullVariables = await send(
        caller,
        '',
        'GET',
        `query=${encodeURIComponent('{ viewer { user } }')}&variables=null`,
      )
      t.equal(nullVariables.status, 200, 'null variables are no variables')
    })

    t.test('nothing above left the app unable to answer', async t => {
      t.same(await probe(app, caller), { status: 200, data: { viewer: { user: 'alice' } } })
    })
  },
  { emitQueryEvents: true },
)

async function probe(app: FastifyInstance, caller: Caller): Promise<{ status: number; data: unknown }> {
  await app.ready()
  const response = await caller.graphql('{ viewer { user } }')
  return { status: response.statusCode, data: response.json<{ data: unknown }>().data }
}
