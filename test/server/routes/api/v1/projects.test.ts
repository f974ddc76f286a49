// /api/v1/projects: CRUD, keyset pages, sorting, search and HTTP caching headers.
import t from 'tap'
import { forEachBackend } from '../../../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../../../helpers/build-app.ts'
import {
  assertProblem,
  body,
  createProject,
  createTask,
  creationOrder,
  walkPages,
  type PageBody,
  type ProjectBody,
} from './fixtures.ts'

const READ_CACHE_CONTROL = 'max-age=0, s-maxage=5, stale-if-error=60'

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test('create answers 201 with Location, and the project reads back', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const created = await caller.post('/api/v1/projects', { name: '  Launch  ', description: 'Q3 launch' })
    t.equal(created.statusCode, 201)
    const project = body<ProjectBody>(created)
    t.match(project, { name: 'Launch', description: 'Q3 launch' }, 'name trimmed, description kept')
    t.match(project.id, /^[0-9a-f-]{36}$/)
    t.equal(created.headers.location, `/api/v1/projects/${project.id}`)
    t.equal(created.headers['cache-control'], 'no-store', 'writes are not cacheable')

    const read = await caller.get(created.headers.location as string)
    t.equal(read.statusCode, 200)
    t.same(body(read), project, 'GET returns what POST returned')
    const rows = await backend.asOwner(s =>
      s.query<{ tenant_id: string; name: string }>('SELECT tenant_id, name FROM projects WHERE id = $1', [project.id]),
    )
    t.same(rows, [{ tenant_id: caller.tenant.id, name: 'Launch' }], "stored under the caller's tenant")
  })

  t.test('PATCH changes only the given fields', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller, { name: 'Before', description: 'keep me' })
    const renamed = await caller.patch(`/api/v1/projects/${project.id}`, { name: 'After' })
    t.equal(renamed.statusCode, 200)
    t.equal(renamed.headers['cache-control'], 'no-store')
    const after = body<ProjectBody>(renamed)
    t.match(after, { id: project.id, name: 'After', description: 'keep me', createdAt: project.createdAt })
    t.ok(after.updatedAt >= project.updatedAt, 'updatedAt does not go backwards')
    const cleared = body<ProjectBody>(await caller.patch(`/api/v1/projects/${project.id}`, { description: null }))
    t.match(cleared, { name: 'After', description: null })
    t.same(body(await caller.get(`/api/v1/projects/${project.id}`)), cleared)
  })

  t.test('DELETE removes the project and its tasks, and only them', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const doomed = await createProject(t, caller)
    const kept = await createProject(t, caller)
    const doomedTasks = [await createTask(t, caller, doomed.id), await createTask(t, caller, doomed.id)]
    const keptTask = await createTask(t, caller, kept.id)

    const removed = await caller.delete(`/api/v1/projects/${doomed.id}`)
    t.equal(removed.statusCode, 204)
    t.equal(removed.body, '', 'no body')
    t.equal(removed.headers['cache-control'], 'no-store')
    assertProblem(t, await caller.get(`/api/v1/projects/${doomed.id}`), 404, 'not-found')
    for (const task of doomedTasks) assertProblem(t, await caller.get(`/api/v1/tasks/${task.id}`), 404, 'not-found')
    assertProblem(t, await caller.delete(`/api/v1/projects/${doomed.id}`), 404, 'not-found')

    const tasks = await backend.asOwner(s =>
      s.query<{ id: string }>('SELECT id FROM tasks WHERE tenant_id = $1 ORDER BY id', [caller.tenant.id]),
    )
    t.same(tasks, [{ id: keptTask.id }], "only the other project's task remains")
  })

  t.test('an unknown id is a 404 problem on every verb', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const missing = '0190a5f4-0000-7000-8000-0000000000aa'
    const problem = assertProblem(t, await caller.get(`/api/v1/projects/${missing}`), 404, 'not-found')
    t.equal(problem.code, 'GH_NOT_FOUND')
    t.equal(problem.detail, 'Project not found')
    const patch = await caller.patch(`/api/v1/projects/${missing}`, { name: 'x' })
    assertProblem(t, patch, 404, 'not-found')
    t.equal(patch.headers['cache-control'], 'no-store', 'errors are never cacheable')
    assertProblem(t, await caller.delete(`/api/v1/projects/${missing}`), 404, 'not-found')
    assertProblem(t, await caller.post(`/api/v1/projects/${missing}/tasks`, { title: 'x' }), 404, 'not-found')
  })

  t.test('pages walk every project exactly once', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const created: ProjectBody[] = []
    for (let i = 0; i < 7; i++) created.push(await createProject(t, caller, { name: `P${i}` }))
    const pages = await walkPages<ProjectBody>(t, caller, '/api/v1/projects?limit=3')
    t.same(
      pages.map(page => page.length),
      [3, 3, 1],
    )
    t.same(
      pages.flat().map(p => p.id),
      creationOrder(created).map(p => p.id),
      'oldest first by default, no gaps, no repeats',
    )

    const exact = await walkPages<ProjectBody>(t, caller, '/api/v1/projects?limit=7')
    t.same(
      exact.map(page => page.length),
      [7],
      'a full last page has no next',
    )
    const defaults = body<PageBody<ProjectBody>>(await caller.get('/api/v1/projects'))
    t.equal(defaults.data.length, 7)
    t.equal(defaults.next, null)
  })

  t.test('a walk stays stable while rows are inserted and deleted between pages', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const original: ProjectBody[] = []
    for (const name of ['b', 'd', 'f', 'h', 'j', 'l']) original.push(await createProject(t, caller, { name }))
    const inserted: ProjectBody[] = []
    const pages = await walkPages<ProjectBody>(t, caller, '/api/v1/projects?limit=2&sort=name', async page => {
      if (page === 1) {
        // one before the cursor (never seen), one after it (seen once), and the first page's last row deleted
        inserted.push(await createProject(t, caller, { name: 'a' }), await createProject(t, caller, { name: 'e' }))
        t.equal((await caller.delete(`/api/v1/projects/${original[1]!.id}`)).statusCode, 204)
      }
    })
    const seen = pages.flat().map(p => p.name)
    t.same(
      seen,
      ['b', 'd', 'e', 'f', 'h', 'j', 'l'],
      'each row once, in order; the deleted cursor row does not break the walk',
    )
    t.equal(new Set(pages.flat().map(p => p.id)).size, seen.length, 'no duplicates')

    const newestFirst = await walkPages<ProjectBody>(
      t,
      caller,
      '/api/v1/projects?limit=2&sort=-createdAt',
      async page => {
        if (page === 1) await createProject(t, caller, { name: 'late' })
      },
    )
    const names = newestFirst.flat().map(p => p.name)
    const present = creationOrder([...original.filter(p => p.name !== 'd'), ...inserted])
      .reverse()
      .map(p => p.name)
    t.same(names, present, 'newest first; a row created after the first page is ahead of the cursor and not pulled in')
    t.same(present.slice(0, 2).sort(), ['a', 'e'], 'the rows inserted during the first walk are the newest')
  })

  t.test('sort by createdAt, updatedAt and name, either way', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const [c, a, b] = [
      await createProject(t, caller, { name: 'Charlie' }),
      await createProject(t, caller, { name: 'alpha' }),
      await createProject(t, caller, { name: 'Bravo' }),
    ]
    // touch the oldest, a little later, so updatedAt order differs from createdAt order
    await new Promise(resolve => setTimeout(resolve, 5))
    const touched = await caller.patch(`/api/v1/projects/${c!.id}`, { description: 'touched' })
    t.ok(body<ProjectBody>(touched).updatedAt > b!.updatedAt, 'the touched project is now the most recently updated')
    const order = async (sort: string): Promise<string[]> =>
      (await walkPages<ProjectBody>(t, caller, `/api/v1/projects?limit=2&sort=${encodeURIComponent(sort)}`))
        .flat()
        .map(p => p.id)
    const created = creationOrder([c!, a!, b!]).map(p => p.id)
    t.same(await order('createdAt'), created)
    t.same(await order('-createdAt'), [...created].reverse())
    const updated = [...creationOrder([a!, b!].map(p => ({ ...p, createdAt: p.updatedAt }))).map(p => p.id), c!.id]
    t.same(await order('updatedAt'), updated)
    t.same(await order('-updatedAt'), [...updated].reverse())
    const byName = await order('name')
    t.same(await order('-name'), [...byName].reverse(), 'descending is the exact reverse')
    // Name order is the database's collation (C on PGlite, often en_US on a server), so compare with it.
    const collated = await backend.asOwner(s =>
      s.query<{ id: string }>('SELECT id FROM projects WHERE tenant_id = $1 ORDER BY name, id', [caller.tenant.id]),
    )
    t.same(
      byName,
      collated.map(row => row.id),
    )
  })

  t.test('q filters by a case-insensitive substring of the name, across pages', async t => {
    const caller = callerFor(app, await backend.createTenant())
    for (const name of [
      'Website relaunch',
      'LAUNCH party',
      'Hiring',
      'launchpad',
      'Budget',
      '100% done',
      'snake_case',
      'back\\slash',
    ]) {
      await createProject(t, caller, { name })
    }
    const found = (await walkPages<ProjectBody>(t, caller, '/api/v1/projects?limit=2&sort=name&q=launch'))
      .flat()
      .map(p => p.name)
    t.same([...found].sort(), ['LAUNCH party', 'Website relaunch', 'launchpad'].sort())
    const none = body<PageBody<ProjectBody>>(await caller.get('/api/v1/projects?q=zzz'))
    t.same(none, { data: [], next: null })
    const names = async (q: string): Promise<string[]> =>
      body<PageBody<ProjectBody>>(await caller.get(`/api/v1/projects?q=${encodeURIComponent(q)}`)).data.map(p => p.name)
    t.same(await names('%'), ['100% done'], '% is matched literally, not as a wildcard')
    t.same(await names('_'), ['snake_case'], '_ is matched literally')
    t.same(await names('\\'), ['back\\slash'], 'so is a backslash')
    t.same(await names('h%g'), [], 'no wildcard inside a term either')
  })

  t.test('reads carry ETag and shared-cache headers; If-None-Match gives 304', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = await createProject(t, caller)
    for (const url of [`/api/v1/projects/${project.id}`, '/api/v1/projects', `/api/v1/projects/${project.id}/tasks`]) {
      const first = await caller.get(url)
      t.equal(first.statusCode, 200)
      t.equal(first.headers['cache-control'], READ_CACHE_CONTROL, url)
      t.match(first.headers.vary, /x-gatehouse-tenant/i, 'a shared cache must key reads by tenant')
      const etag = first.headers.etag as string
      t.match(etag, /^(W\/)?"[^"]+"$/, 'an entity tag')

      const again = await caller.request({ method: 'GET', url, headers: { 'if-none-match': etag } })
      t.equal(again.statusCode, 304, `${url} not modified`)
      t.equal(again.body, '')
      t.equal(again.headers.etag, etag)
      t.equal(
        again.headers['cache-control'],
        READ_CACHE_CONTROL,
        'a 304 refreshes the cached response with the same policy',
      )
      t.match(again.headers.vary, /x-gatehouse-tenant/i)
    }

    const before = (await caller.get(`/api/v1/projects/${project.id}`)).headers.etag as string
    await caller.patch(`/api/v1/projects/${project.id}`, { name: 'Changed' })
    const changed = await caller.request({
      method: 'GET',
      url: `/api/v1/projects/${project.id}`,
      headers: { 'if-none-match': before },
    })
    t.equal(changed.statusCode, 200, 'a stale ETag gets the new representation')
    t.not(changed.headers.etag, before)
    t.equal(body<ProjectBody>(changed).name, 'Changed')
  })

  t.test('errors on reads are not cacheable', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const response = await caller.get('/api/v1/projects/0190a5f4-0000-7000-8000-0000000000bb')
    t.equal(response.statusCode, 404)
    t.equal(response.headers['cache-control'], 'no-store')
  })
})
