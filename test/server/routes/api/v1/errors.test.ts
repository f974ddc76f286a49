// Every way a client can get a request wrong ends as a 4xx problem+json with a stable type, never a 5xx.
import { Readable } from 'node:stream'
import t from 'tap'
import { forEachBackend } from '../../../../helpers/backends.ts'
import { signIdentity } from '../../../../../common/identity-signature.ts'
import { buildTestApp, callerFor, TEST_IDENTITY_SECRET } from '../../../../helpers/build-app.ts'
import { assertProblem, createProject, createTask } from './fixtures.ts'

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend, { BODY_LIMIT_BYTES: '2048' })

  t.test('malformed JSON is a 400 malformed-body', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const response = await caller.request({
      method: 'POST',
      url: '/api/v1/projects',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x",',
    })
    assertProblem(t, response, 400, 'malformed-body')
    const empty = await caller.request({
      method: 'POST',
      url: '/api/v1/projects',
      headers: { 'content-type': 'application/json' },
      payload: '',
    })
    assertProblem(t, empty, 400, 'malformed-body')
  })

  t.test('wrong types are refused, not coerced, with a pointer to each', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', priority: '3' }, '/priority'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', priority: 2.5 }, '/priority'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', priority: 9 }, '/priority'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 123 }, '/title'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', status: 'blocked' }, '/status'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', dueDate: '2026-02-30' }, '/dueDate'],
      [`/api/v1/projects/${project.id}/tasks`, { title: 'ok', dueDate: '01/12/2026' }, '/dueDate'],
      [`/api/v1/projects/${project.id}/tasks`, { title: '   ' }, '/title'],
      ['/api/v1/projects', { name: true }, '/name'],
      ['/api/v1/projects', { name: ['a'] }, '/name'],
      ['/api/v1/projects', { name: 'ok', description: 5 }, '/description'],
      ['/api/v1/projects', { name: 'x'.repeat(201) }, '/name'],
    ]
    for (const [url, payload, pointer] of cases) {
      const response = await caller.post(url, payload)
      const problem = assertProblem(t, response, 400, 'validation')
      t.ok(problem.errors !== undefined && problem.errors.length > 0, `${JSON.stringify(payload)} lists its problems`)
      for (const issue of problem.errors ?? []) {
        t.equal(issue.in, 'body')
        t.match(issue.pointer, /^\//, 'a JSON pointer')
      }
      t.ok(
        problem.errors?.some(issue => issue.pointer === pointer),
        `${JSON.stringify(payload)} points at ${pointer}`,
      )
    }
    const { rows } = {
      rows: await backend.asOwner(s =>
        s.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE project_id = $1', [project.id]),
      ),
    }
    t.equal(rows[0]?.n, 0, 'no task was written by a refused request')
  })

  t.test('a JSON body that is not an object is a validation problem at the root', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const payload of ['[]', '"Launch"', 'null', '42']) {
      const response = await caller.request({
        method: 'POST',
        url: '/api/v1/projects',
        headers: { 'content-type': 'application/json' },
        payload,
      })
      t.same(
        assertProblem(t, response, 400, 'validation').errors?.map(issue => issue.pointer),
        ['/'],
        payload,
      )
    }
  })

  t.test('a value that may be null says so', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const problem = assertProblem(
      t,
      await caller.post('/api/v1/projects', { name: 'ok', description: 5 }),
      400,
      'validation',
    )
    t.equal(problem.errors?.length, 1, 'one problem for the one bad value, not one per union branch')
    t.match(problem.errors?.[0], { in: 'body', pointer: '/description', detail: /string.*or.*null/ })
  })

  t.test('several problems in one body each get a pointer', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const response = await caller.post(`/api/v1/projects/${project.id}/tasks`, {
      title: '',
      priority: 'high',
      colour: 'red',
    })
    const problem = assertProblem(t, response, 400, 'validation')
    const pointers = new Set((problem.errors ?? []).map(issue => issue.pointer))
    t.same([...pointers].sort(), ['/colour', '/priority', '/title'])
    t.match(problem.detail, /body\/colour/, 'the detail names the problems too')
  })

  t.test('unknown fields are refused, with the field as the pointer', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const create = await caller.post('/api/v1/projects', { name: 'ok', owner: 'mallory' })
    t.same(
      assertProblem(t, create, 400, 'validation').errors?.map(issue => issue.pointer),
      ['/owner'],
    )
    const patch = await caller.patch(`/api/v1/projects/${project.id}`, { nmae: 'typo' })
    t.same(
      assertProblem(t, patch, 400, 'validation').errors?.map(issue => issue.pointer),
      ['/nmae'],
    )
    const tenantField = await caller.post(`/api/v1/projects/${project.id}/tasks`, { title: 'ok', tenantId: project.id })
    t.same(
      assertProblem(t, tenantField, 400, 'validation').errors?.map(issue => issue.pointer),
      ['/tenantId'],
    )
    const query = await caller.get('/api/v1/projects?colour=red')
    const queryProblem = assertProblem(t, query, 400, 'validation')
    t.same(
      queryProblem.errors?.map(issue => [issue.in, issue.pointer]),
      [['querystring', '/colour']],
    )
    const empty = await caller.patch(`/api/v1/projects/${project.id}`, {})
    assertProblem(t, empty, 400, 'validation')
  })

  t.test('query parameters are checked', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=1.5',
      'limit=0x10',
      'limit=',
      'limit=1e1',
      'sort=owner',
      'sort=--name',
      'q=',
      'dueBefore=tomorrow',
      'dueAfter=2026-13-01',
      'priorityAtLeast=5',
      'status=open',
      'status=todo&status=done',
      'cursor=a&cursor=b',
      'projectId=nope',
    ]) {
      const response = await caller.get(`/api/v1/tasks?${query}`)
      const problem = assertProblem(t, response, 400, 'validation')
      t.equal(problem.errors?.[0]?.in, 'querystring', query)
    }
  })

  t.test('a non-UUID id is a 400, not a 500', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const [method, url] of [
      ['GET', '/api/v1/projects/42'],
      ['PATCH', '/api/v1/projects/42'],
      ['DELETE', '/api/v1/tasks/not-a-uuid'],
      ['GET', '/api/v1/projects/42/tasks'],
      ['POST', '/api/v1/projects/42/tasks'],
      ['GET', '/api/v1/tasks/00000000-0000-0000-0000-00000000000g'],
    ] as const) {
      const withBody = method === 'POST' || method === 'PATCH'
      const response = await caller.request({
        method,
        url,
        ...(withBody ? { headers: { 'content-type': 'application/json' }, payload: '{"title":"x"}' } : {}),
      })
      const problem = assertProblem(t, response, 400, 'validation')
      t.same(
        problem.errors?.map(issue => [issue.in, issue.pointer]),
        [['params', '/id']],
        `${method} ${url}`,
      )
    }
    const badMove = await caller.patch(`/api/v1/tasks/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`, {
      projectId: 'elsewhere',
    })
    assertProblem(t, badMove, 400, 'validation')
  })

  t.test('a well-formed id nobody has is a 404 not-found', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const missing = '0190a5f4-0000-7000-8000-000000000000'
    for (const [method, url] of [
      ['GET', `/api/v1/projects/${missing}`],
      ['DELETE', `/api/v1/projects/${missing}`],
      ['GET', `/api/v1/tasks/${missing}`],
      ['GET', `/api/v1/projects/${missing}/tasks`],
    ] as const) {
      assertProblem(t, await caller.request({ method, url }), 404, 'not-found')
    }
  })

  t.test('a body over BODY_LIMIT_BYTES is a 413', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const response = await caller.post('/api/v1/projects', { name: 'big', description: 'x'.repeat(4096) })
    assertProblem(t, response, 413, 'payload-too-large')
    const count = await backend.asOwner(s =>
      s.query<{ n: number }>('SELECT count(*)::int AS n FROM projects WHERE tenant_id = $1', [caller.tenant.id]),
    )
    t.equal(count[0]?.n, 0, 'nothing was written')
  })

  t.test('a body that is not the one signed is a 400 body-digest-mismatch; over the limit, still a 413', async t => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects'
    const sign = (body: string) => ({
      'content-type': 'application/json',
      ...signIdentity(TEST_IDENTITY_SECRET, {
        tenant: tenant.slug,
        user: 'alice',
        requestId: 'digest-1',
        method: 'POST',
        url,
        body,
      }),
    })
    const mismatch = await app.inject({
      method: 'POST',
      url,
      headers: sign('{"name":"signed"}'),
      payload: '{"name":"sent"}',
    })
    assertProblem(t, mismatch, 400, 'body-digest-mismatch')
    t.equal(mismatch.headers['cache-control'], 'no-store')
    // Counted as it streams: the limit stops a chunked body before its end, where the digest would be compared.
    const big = JSON.stringify({ name: 'big', description: 'x'.repeat(4096) })
    const chunked = await app.inject({
      method: 'POST',
      url,
      headers: { ...sign(big), 'transfer-encoding': 'chunked' },
      payload: Readable.from([Buffer.from(big)]),
    })
    assertProblem(t, chunked, 413, 'payload-too-large')
    // The parser stops listening at the limit; the rest still streams through the check, which then fails unheard.
    const other = JSON.stringify({ name: 'big', description: 'y'.repeat(4096) })
    const mismatched = await app.inject({
      method: 'POST',
      url,
      headers: { ...sign(big), 'transfer-encoding': 'chunked' },
      payload: Readable.from([Buffer.from(other)]),
    })
    assertProblem(t, mismatched, 413, 'payload-too-large')
    await new Promise(resolve => setImmediate(resolve))
    t.equal((await callerFor(app, tenant).get(url)).statusCode, 200, 'and the API still serves')
    const count = await backend.asOwner(s =>
      s.query<{ n: number }>('SELECT count(*)::int AS n FROM projects WHERE tenant_id = $1', [tenant.id]),
    )
    t.equal(count[0]?.n, 0, 'nothing was written')
  })

  t.test('a body that is not JSON is a 415', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await caller.request({
        method: 'POST',
        url: '/api/v1/projects',
        headers: { 'content-type': type },
        payload: 'name=x',
      })
      const problem = assertProblem(t, response, 415, 'unsupported-media-type')
      t.equal(
        problem.detail,
        `Content-Type "${type}" is not accepted here; send application/json`,
        'names what is accepted',
      )
    }
    const untyped = await caller.request({ method: 'POST', url: '/api/v1/projects', payload: 'name=x' })
    t.equal(
      assertProblem(t, untyped, 415, 'unsupported-media-type').detail,
      'A body without a Content-Type is not accepted here; send application/json',
    )
    const graphql = await caller.request({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'text/plain' },
      payload: '{ x }',
    })
    t.equal(graphql.statusCode, 415)
    t.match(graphql.json().errors, [
      {
        message: 'Content-Type "text/plain" is not accepted here; send application/json or application/graphql',
        extensions: { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', status: 415 },
      },
    ])
  })

  t.test('an enum error names the allowed values', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const sort = assertProblem(t, await caller.get('/api/v1/projects?sort=owner'), 400, 'validation')
    t.same(sort.errors, [
      {
        in: 'querystring',
        pointer: '/sort',
        detail: 'must be one of: createdAt, -createdAt, updatedAt, -updatedAt, name, -name',
      },
    ])
    t.match(sort.detail, 'querystring/sort must be one of: createdAt, -createdAt')
    const project = await createProject(t, caller)
    const status = assertProblem(
      t,
      await caller.post(`/api/v1/projects/${project.id}/tasks`, { title: 'x', status: 'open' }),
      400,
      'validation',
    )
    t.same(status.errors, [{ in: 'body', pointer: '/status', detail: 'must be one of: todo, in_progress, done' }])
  })

  t.test('a cursor that is not one of ours is a 400 invalid-cursor', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    await createTask(t, caller, project.id, { dueDate: '2026-01-01' })
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const id = '0190a5f4-0000-7000-8000-000000000000'
    const cursors: Array<[string, string]> = [
      ['/api/v1/projects', 'garbage!!'],
      ['/api/v1/projects', encode(42)],
      ['/api/v1/projects', encode(null)],
      ['/api/v1/projects', encode({ s: 'createdAt', v: 'not a date', id })],
      ['/api/v1/projects', encode({ s: 'name', v: 'a', id })], // cursor of another sort
      ['/api/v1/projects', encode({ s: 'createdAt', v: '2026-01-01T00:00:00.000Z', id: 'nope' })],
      ['/api/v1/projects?sort=name', encode({ s: 'name', v: 7, id })],
      ['/api/v1/projects?sort=name', encode({ s: 'name', v: null, id })],
      ['/api/v1/projects?sort=name', encode({ s: 'name', v: 'a\u0000b', id })],
      ['/api/v1/tasks?sort=priority', encode({ s: 'priority', v: 2.5, id })],
      ['/api/v1/tasks?sort=priority', encode({ s: 'priority', v: 1e300, id })],
      ['/api/v1/tasks?sort=priority', encode({ s: 'priority', v: '2', id })],
      ['/api/v1/tasks?sort=dueDate', encode({ s: 'dueDate', v: '+275760-09-13T00:00:00.000Z', id })],
      ['/api/v1/tasks?sort=-createdAt', encode({ s: '-createdAt', v: '-271821-04-20T00:00:00.000Z', id })],
      ['/api/v1/tasks?sort=-priority', encode({ s: '-priority', v: 70_000, id })],
      ['/api/v1/projects?sort=updatedAt', encode({ s: 'updatedAt', v: '2026-01-01', id })],
    ]
    for (const [url, cursor] of cursors) {
      const response = await caller.get(`${url}${url.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}`)
      t.comment(`${url} ${Buffer.from(cursor, 'base64url').toString('utf8')}`)
      assertProblem(t, response, 400, 'invalid-cursor')
    }
  })

  t.test('text Postgres cannot store (NUL) is a 400 with a pointer, not a 500', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/api/v1/projects', { name: 'a\u0000b' }, '/name'],
      ['PATCH', `/api/v1/projects/${project.id}`, { description: 'x\u0000' }, '/description'],
      ['POST', `/api/v1/projects/${project.id}/tasks`, { title: '\u0000' }, '/title'],
    ]
    for (const [method, url, payload, pointer] of cases) {
      const response = await caller.request({
        method,
        url,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      })
      t.same(
        assertProblem(t, response, 400, 'validation').errors?.map(issue => issue.pointer),
        [pointer],
        `${method} ${url}`,
      )
    }
    for (const url of ['/api/v1/projects?q=a%00b', '/api/v1/tasks?q=%00']) {
      t.same(
        assertProblem(t, await caller.get(url), 400, 'validation').errors?.map(issue => [issue.in, issue.pointer]),
        [['querystring', '/q']],
        url,
      )
    }
    const stored = await backend.asOwner(s =>
      s.query<{ name: string; description: string | null }>('SELECT name, description FROM projects WHERE id = $1', [
        project.id,
      ]),
    )
    t.same(stored, [{ name: project.name, description: null }], 'the project is unchanged')
  })

  t.test('an unknown route is a 404 problem', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const [method, url] of [
      ['GET', '/api/v1/nope'],
      ['GET', '/api/v2/projects'],
      ['PUT', '/api/v1/projects'],
      ['GET', '/nope?x=1'],
    ] as const) {
      const problem = assertProblem(t, await caller.request({ method, url }), 404, 'route-not-found')
      t.equal(problem.code, 'GH_ROUTE_NOT_FOUND')
    }
  })

  t.test('a request without a signed identity is a 401 problem', async t => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/projects' })
    assertProblem(t, response, 401, 'unauthenticated')
    t.equal(response.headers['cache-control'], 'no-store')
  })

  t.test("4xx details are passed on, and the proxy's request id is the problem's", async t => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects/42'
    const headers = signIdentity(TEST_IDENTITY_SECRET, {
      tenant: tenant.slug,
      user: 'alice',
      requestId: 'proxy-chosen-123',
      method: 'GET',
      url,
    })
    const response = await app.inject({ method: 'GET', url, headers })
    const problem = assertProblem(t, response, 400, 'validation')
    t.equal(problem.requestId, 'proxy-chosen-123')
    t.equal(problem.instance, url)
    t.match(problem.detail, /params\/id/)
  })
})
