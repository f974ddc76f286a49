// Tenant B must not see or change tenant A's rows through any REST door: ids, cursors, filters, moves.
// Every attempt is a plain 404 (as if the row did not exist), and the database is checked afterwards.
import t from 'tap'
import { forEachBackend, type Backend } from '../../../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../../../helpers/build-app.ts'
import {
  assertProblem,
  body,
  createProject,
  createTask,
  walkPages,
  type PageBody,
  type ProjectBody,
  type TaskBody,
} from './fixtures.ts'

/** Every column of a tenant's rows, as the owner sees them (no RLS), to compare before and after. */
async function snapshot(backend: Backend, tenantId: string): Promise<unknown> {
  return backend.asOwner(async s => ({
    projects: await s.query('SELECT to_jsonb(p) AS row FROM projects p WHERE tenant_id = $1 ORDER BY id', [tenantId]),
    tasks: await s.query('SELECT to_jsonb(t) AS row FROM tasks t WHERE tenant_id = $1 ORDER BY id', [tenantId]),
  }))
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  async function twoTenants(t: Parameters<typeof createProject>[0]) {
    const a = callerFor(app, await backend.createTenant(), 'alice')
    const b = callerFor(app, await backend.createTenant(), 'bob')
    const aProject = await createProject(t, a, { name: 'Secret plan A' })
    const aTasks = [
      await createTask(t, a, aProject.id, { title: 'Secret task 1', priority: 4, dueDate: '2026-01-01' }),
      await createTask(t, a, aProject.id, { title: 'Secret task 2', status: 'done' }),
      await createTask(t, a, aProject.id, { title: 'Secret task 3' }),
    ]
    const bProject = await createProject(t, b, { name: 'B plan' })
    const bTask = await createTask(t, b, bProject.id, { title: 'B task' })
    const before = await snapshot(backend, a.tenant.id)
    t.equal((before as { tasks: unknown[] }).tasks.length, 3, 'A has its rows')
    return { a, b, aProject, aTasks, bProject, bTask, before }
  }

  t.test("B cannot read, change or delete A's rows by id", async t => {
    const { a, b, aProject, aTasks, before } = await twoTenants(t)
    const aTask = aTasks[0]!
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/projects/${aProject.id}`],
      ['GET', `/api/v1/projects/${aProject.id}/tasks`],
      ['GET', `/api/v1/tasks/${aTask.id}`],
      ['PATCH', `/api/v1/projects/${aProject.id}`, { name: 'pwned' }],
      ['PATCH', `/api/v1/tasks/${aTask.id}`, { title: 'pwned', status: 'done' }],
      ['POST', `/api/v1/projects/${aProject.id}/tasks`, { title: 'planted' }],
      ['DELETE', `/api/v1/tasks/${aTask.id}`],
      ['DELETE', `/api/v1/projects/${aProject.id}`],
    ]
    for (const [method, url, payload] of attempts) {
      const response = await b.request({
        method,
        url,
        ...(payload !== undefined
          ? { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) }
          : {}),
      })
      const problem = assertProblem(t, response, 404, 'not-found')
      t.notMatch(response.body, /Secret/, `${method} ${url} leaks nothing`)
      t.equal(problem.code, 'GH_NOT_FOUND')
    }
    t.same(await snapshot(backend, a.tenant.id), before, "A's rows are byte-for-byte unchanged")
    t.same(
      (
        await backend.asOwner(s =>
          s.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE project_id = $1', [aProject.id]),
        )
      )[0]?.n,
      3,
      "no task was planted in A's project",
    )
    t.equal((await a.get(`/api/v1/tasks/${aTask.id}`)).statusCode, 200, 'A still sees its task')
  })

  t.test("B cannot move its task into A's project, nor pull A's task into its own", async t => {
    const { a, b, aProject, aTasks, bProject, bTask, before } = await twoTenants(t)
    assertProblem(t, await b.patch(`/api/v1/tasks/${bTask.id}`, { projectId: aProject.id }), 404, 'not-found')
    assertProblem(t, await b.patch(`/api/v1/tasks/${aTasks[1]!.id}`, { projectId: bProject.id }), 404, 'not-found')
    const bRows = await backend.asOwner(s =>
      s.query<{ id: string; project_id: string; tenant_id: string }>(
        'SELECT id, project_id, tenant_id FROM tasks WHERE id = $1',
        [bTask.id],
      ),
    )
    t.same(bRows, [{ id: bTask.id, project_id: bProject.id, tenant_id: b.tenant.id }], "B's task stayed where it was")
    t.same(await snapshot(backend, a.tenant.id), before, "A's rows are unchanged")
    // and A, for its part, cannot move its task into B's project
    assertProblem(t, await a.patch(`/api/v1/tasks/${aTasks[0]!.id}`, { projectId: bProject.id }), 404, 'not-found')
    t.same(await snapshot(backend, a.tenant.id), before)
  })

  t.test('lists, filters and searches show B only its own rows', async t => {
    const { a, b, aProject, bProject, bTask, before } = await twoTenants(t)
    const projects = (await walkPages<ProjectBody>(t, b, '/api/v1/projects?limit=1')).flat()
    t.same(
      projects.map(p => p.id),
      [bProject.id],
    )
    const tasks = (await walkPages<TaskBody>(t, b, '/api/v1/tasks?limit=1')).flat()
    t.same(
      tasks.map(task => task.id),
      [bTask.id],
    )
    for (const query of [
      `projectId=${aProject.id}`,
      'q=Secret',
      'status=done',
      'priorityAtLeast=4',
      'dueBefore=2026-12-31',
      'sort=-priority',
    ]) {
      const page = body<PageBody<TaskBody>>(await b.get(`/api/v1/tasks?${query}`))
      t.notOk(
        page.data.some(task => task.projectId === aProject.id),
        `tasks?${query} has none of A's tasks`,
      )
    }
    t.same(body<PageBody<ProjectBody>>(await b.get('/api/v1/projects?q=Secret')), { data: [], next: null })
    t.same(await snapshot(backend, a.tenant.id), before)
  })

  t.test("A's cursor gets B nothing of A's", async t => {
    const { a, b, aProject, bTask } = await twoTenants(t)
    for (const [aUrl, bUrl] of [
      [`/api/v1/projects/${aProject.id}/tasks?limit=1`, '/api/v1/tasks?limit=1'],
      ['/api/v1/tasks?limit=1&sort=title', '/api/v1/tasks?limit=1&sort=title'],
      ['/api/v1/tasks?limit=1&sort=-createdAt', '/api/v1/tasks?limit=1&sort=-createdAt'],
    ] as const) {
      const aPage = body<PageBody<TaskBody>>(await a.get(aUrl))
      t.type(aPage.next, 'string', 'A has a next page')
      const response = await b.get(`${bUrl}&cursor=${encodeURIComponent(aPage.next!)}`)
      t.equal(response.statusCode, 200, 'a cursor only names a position, so it is valid anywhere')
      const page = body<PageBody<TaskBody>>(response)
      t.notMatch(response.body, /Secret/)
      t.ok(
        page.data.every(task => task.id === bTask.id),
        `${bUrl}: only B's own task, if any`,
      )
    }
    // the cursor of A's project list cannot be replayed on A's project by B either
    const aPage = body<PageBody<TaskBody>>(await a.get(`/api/v1/projects/${aProject.id}/tasks?limit=1`))
    assertProblem(
      t,
      await b.get(`/api/v1/projects/${aProject.id}/tasks?limit=1&cursor=${encodeURIComponent(aPage.next!)}`),
      404,
      'not-found',
    )
  })

  t.test("A's ETag does not turn B's 404 into a 304", async t => {
    const { a, b, aProject } = await twoTenants(t)
    const etag = (await a.get(`/api/v1/projects/${aProject.id}`)).headers.etag as string
    const response = await b.request({
      method: 'GET',
      url: `/api/v1/projects/${aProject.id}`,
      headers: { 'if-none-match': etag },
    })
    assertProblem(t, response, 404, 'not-found')
    const list = await a.get('/api/v1/projects')
    const bList = await b.request({
      method: 'GET',
      url: '/api/v1/projects',
      headers: { 'if-none-match': list.headers.etag as string },
    })
    t.equal(bList.statusCode, 200, 'different tenants, different representations')
    t.same(
      body<PageBody<ProjectBody>>(bList).data.map(p => p.name),
      ['B plan'],
    )
  })
})
