// /api/v1/projects/:id/tasks and /api/v1/tasks: create, filter, sort, page, change, move and delete.
import t from 'tap'
import { forEachBackend } from '../../../../helpers/backends.ts'
import { buildTestApp, callerFor, type Caller } from '../../../../helpers/build-app.ts'
import { assertProblem, body, createProject, createTask, creationOrder, walkPages, type TaskBody } from './fixtures.ts'

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  const titles = async (t: Parameters<typeof walkPages>[0], caller: Caller, url: string): Promise<string[]> =>
    (await walkPages<TaskBody>(t, caller, url)).flat().map(task => task.title)

  t.test('create under a project: defaults, Location, and the stored row', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const response = await caller.post(`/api/v1/projects/${project.id}/tasks`, { title: ' Book the venue ' })
    t.equal(response.statusCode, 201)
    const task = body<TaskBody>(response)
    t.match(task, {
      projectId: project.id,
      title: 'Book the venue',
      description: null,
      status: 'todo',
      priority: 0,
      dueDate: null,
    })
    t.equal(response.headers.location, `/api/v1/tasks/${task.id}`)
    t.equal(response.headers['cache-control'], 'no-store')
    t.same(body(await caller.get(response.headers.location as string)), task)

    const full = await createTask(t, caller, project.id, {
      title: 'Full',
      description: 'all fields',
      status: 'in_progress',
      priority: 4,
      dueDate: '2026-12-01',
    })
    t.match(full, { description: 'all fields', status: 'in_progress', priority: 4, dueDate: '2026-12-01' })
    const rows = await backend.asOwner(s =>
      s.query<{ tenant_id: string; due: string; priority: number }>(
        "SELECT tenant_id, to_char(due_date, 'YYYY-MM-DD') AS due, priority FROM tasks WHERE id = $1",
        [full.id],
      ),
    )
    t.same(
      rows,
      [{ tenant_id: caller.tenant.id, due: '2026-12-01', priority: 4 }],
      'the calendar day is stored as given, whatever the time zone',
    )
  })

  t.test("a project's list holds only its tasks; an unknown project is a 404", async t => {
    const caller = callerFor(app, await backend.createTenant())
    const [one, two] = [await createProject(t, caller), await createProject(t, caller)]
    const both = [
      await createTask(t, caller, one!.id, { title: 'in one' }),
      await createTask(t, caller, two!.id, { title: 'in two' }),
    ]
    t.same(await titles(t, caller, `/api/v1/projects/${one!.id}/tasks`), ['in one'])
    t.same(await titles(t, caller, `/api/v1/tasks?projectId=${two!.id}`), ['in two'])
    t.same(
      await titles(t, caller, '/api/v1/tasks'),
      creationOrder(both).map(task => task.title),
      'the tenant-wide list has both, oldest first',
    )
    assertProblem(t, await caller.get('/api/v1/projects/0190a5f4-0000-7000-8000-0000000000cc/tasks'), 404, 'not-found')
  })

  t.test('filters: status, priorityAtLeast, dueBefore/dueAfter (inclusive), q, and together', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const specs = [
      { title: 'Draft agenda', status: 'todo', priority: 1, dueDate: '2026-03-01' },
      { title: 'Send AGENDA', status: 'in_progress', priority: 3, dueDate: '2026-03-10' },
      { title: 'Book room', status: 'done', priority: 4, dueDate: '2026-03-31' },
      { title: 'Order food', status: 'todo', priority: 3 },
      { title: 'Agenda review', status: 'todo', priority: 0, dueDate: '2026-04-01' },
    ]
    const created: TaskBody[] = []
    for (const spec of specs) created.push(await createTask(t, caller, project.id, spec))
    // the expected titles, in the list's default (creation) order
    const expect = (...wanted: string[]): string[] =>
      creationOrder(created)
        .map(task => task.title)
        .filter(title => wanted.includes(title))
    const base = `/api/v1/projects/${project.id}/tasks?limit=2`
    t.same(await titles(t, caller, `${base}&status=todo`), expect('Draft agenda', 'Order food', 'Agenda review'))
    t.same(await titles(t, caller, `${base}&priorityAtLeast=3`), expect('Send AGENDA', 'Book room', 'Order food'))
    t.same(
      await titles(t, caller, `${base}&dueBefore=2026-03-10`),
      expect('Draft agenda', 'Send AGENDA'),
      'on or before; undated tasks excluded',
    )
    t.same(await titles(t, caller, `${base}&dueAfter=2026-03-31`), expect('Book room', 'Agenda review'), 'on or after')
    t.same(
      await titles(t, caller, `${base}&dueAfter=2026-03-02&dueBefore=2026-03-31`),
      expect('Send AGENDA', 'Book room'),
    )
    t.same(await titles(t, caller, `${base}&q=agenda`), expect('Draft agenda', 'Send AGENDA', 'Agenda review'))
    t.same(await titles(t, caller, `${base}&q=agenda&status=todo&priorityAtLeast=1`), expect('Draft agenda'))
    t.same(
      await titles(t, caller, `/api/v1/tasks?limit=2&q=agenda&projectId=${project.id}&dueAfter=2026-03-05`),
      expect('Send AGENDA', 'Agenda review'),
    )
  })

  t.test('sort by priority, dueDate (undated last, both ways) and title, across pages', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const specs = [
      { title: 'c', priority: 2, dueDate: '2026-05-02' },
      { title: 'a', priority: 0 },
      { title: 'e', priority: 4, dueDate: '2026-05-01' },
      { title: 'b', priority: 2 },
      { title: 'd', priority: 1, dueDate: '2026-05-03' },
      { title: 'f', priority: 2, dueDate: '2026-05-01' },
    ]
    const created: TaskBody[] = []
    for (const spec of specs) created.push(await createTask(t, caller, project.id, spec))
    const id = (title: string): string => created.find(task => task.title === title)!.id
    const byId = (a: string, b: string): number => (id(a) < id(b) ? -1 : 1)
    const base = `/api/v1/projects/${project.id}/tasks?limit=2&sort=`

    // ties (same priority or due date) are ordered by id, in the sort's direction
    t.same(await titles(t, caller, `${base}priority`), ['a', 'd', ...['c', 'b', 'f'].sort(byId), 'e'])
    t.same(await titles(t, caller, `${base}-priority`), ['e', ...['c', 'b', 'f'].sort(byId).reverse(), 'd', 'a'])
    t.same(await titles(t, caller, `${base}dueDate`), [...['e', 'f'].sort(byId), 'c', 'd', ...['a', 'b'].sort(byId)])
    t.same(
      await titles(t, caller, `${base}-dueDate`),
      ['d', 'c', ...['e', 'f'].sort(byId).reverse(), ...['a', 'b'].sort(byId).reverse()],
      'undated tasks come last when descending too',
    )
    t.same(await titles(t, caller, `${base}title`), ['a', 'b', 'c', 'd', 'e', 'f'])
    t.same(await titles(t, caller, `${base}-title`), ['f', 'e', 'd', 'c', 'b', 'a'])
    t.same(
      await titles(t, caller, '/api/v1/tasks?limit=1&sort=-createdAt'),
      creationOrder(created)
        .reverse()
        .map(task => task.title),
    )

    // a page that ends among the undated tasks continues among them
    const oneByOne = await walkPages<TaskBody>(t, caller, `/api/v1/tasks?limit=1&sort=dueDate&projectId=${project.id}`)
    t.equal(oneByOne.length, 6)
    t.same(
      oneByOne
        .flat()
        .slice(4)
        .map(task => task.dueDate),
      [null, null],
    )
  })

  t.test('PATCH changes fields, clears the due date, and moves a task within the tenant', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const [from, to] = [await createProject(t, caller), await createProject(t, caller)]
    const task = await createTask(t, caller, from!.id, { title: 'Move me', dueDate: '2026-06-01', description: 'd' })

    const changed = await caller.patch(`/api/v1/tasks/${task.id}`, { status: 'done', priority: 3, title: ' Moved ' })
    t.equal(changed.statusCode, 200)
    t.equal(changed.headers['cache-control'], 'no-store')
    t.match(body(changed), {
      id: task.id,
      projectId: from!.id,
      status: 'done',
      priority: 3,
      title: 'Moved',
      dueDate: '2026-06-01',
      description: 'd',
    })
    t.match(body(await caller.patch(`/api/v1/tasks/${task.id}`, { dueDate: null, description: null })), {
      dueDate: null,
      description: null,
      status: 'done',
    })

    const moved = await caller.patch(`/api/v1/tasks/${task.id}`, { projectId: to!.id })
    t.equal(moved.statusCode, 200)
    t.equal(body<TaskBody>(moved).projectId, to!.id)
    t.same(await titles(t, caller, `/api/v1/projects/${from!.id}/tasks`), [], 'gone from the old project')
    t.same(await titles(t, caller, `/api/v1/projects/${to!.id}/tasks`), ['Moved'], 'listed in the new one')
    const rows = await backend.asOwner(s =>
      s.query<{ project_id: string }>('SELECT project_id FROM tasks WHERE id = $1', [task.id]),
    )
    t.same(rows, [{ project_id: to!.id }])

    const nowhere = await caller.patch(`/api/v1/tasks/${task.id}`, {
      projectId: '0190a5f4-0000-7000-8000-0000000000dd',
      title: 'Lost',
    })
    t.equal(assertProblem(t, nowhere, 404, 'not-found').detail, 'Project not found')
    t.match(
      body(await caller.get(`/api/v1/tasks/${task.id}`)),
      { projectId: to!.id, title: 'Moved' },
      'a refused move changes nothing',
    )
    assertProblem(
      t,
      await caller.patch('/api/v1/tasks/0190a5f4-0000-7000-8000-0000000000ee', { title: 'x' }),
      404,
      'not-found',
    )
    assertProblem(t, await caller.patch(`/api/v1/tasks/${task.id}`, {}), 400, 'validation')
  })

  t.test('DELETE removes the task and nothing else', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    const [gone, kept] = [await createTask(t, caller, project.id), await createTask(t, caller, project.id)]
    const removed = await caller.delete(`/api/v1/tasks/${gone!.id}`)
    t.equal(removed.statusCode, 204)
    t.equal(removed.body, '')
    assertProblem(t, await caller.get(`/api/v1/tasks/${gone!.id}`), 404, 'not-found')
    assertProblem(t, await caller.delete(`/api/v1/tasks/${gone!.id}`), 404, 'not-found')
    const rows = await backend.asOwner(s =>
      s.query<{ id: string }>('SELECT id FROM tasks WHERE tenant_id = $1', [caller.tenant.id]),
    )
    t.same(rows, [{ id: kept!.id }])
    t.equal((await caller.get(`/api/v1/projects/${project.id}`)).statusCode, 200, 'the project stays')
  })
})
