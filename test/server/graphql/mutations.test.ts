// Writes over GraphQL go through the same services as REST: what one writes the other reads, and an
// invalid input is refused whole, with a message naming the field, and writes nothing.
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'
import { gql, seed, snapshot } from './fixtures/graphql.ts'

const TASK_FIELDS = 'id title description status priority dueDate createdAt updatedAt project { id }'

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test('projects: create, update and delete, each visible through REST', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const created = await gql<{ createProject: Record<string, unknown> & { id: string } }>(
      caller,
      'mutation ($input: CreateProjectInput!) { createProject(input: $input) { id name description createdAt updatedAt } }',
      { input: { name: '  Launch  ', description: 'Q3' } },
    )
    t.equal(created.status, 200)
    t.equal(created.errors, undefined)
    const project = created.data!.createProject
    t.match(project, { name: 'Launch', description: 'Q3' }, 'the name is trimmed as over REST')
    const viaRest = await caller.get(`/api/v1/projects/${project.id}`)
    t.equal(viaRest.statusCode, 200)
    t.same(viaRest.json(), project, 'REST reads exactly what GraphQL wrote')

    const updated = await gql<{ updateProject: { name: string; description: string | null } }>(
      caller,
      'mutation ($id: ID!) { updateProject(id: $id, input: { name: "Liftoff", description: null }) { name description } }',
      { id: project.id },
    )
    t.same(
      updated.data,
      { updateProject: { name: 'Liftoff', description: null } },
      'an explicit null clears the description',
    )
    t.match((await caller.get(`/api/v1/projects/${project.id}`)).json(), { name: 'Liftoff', description: null })

    // A project's tasks go with it.
    const task = await caller.post(`/api/v1/projects/${project.id}/tasks`, { title: 'Book the venue' })
    t.equal(task.statusCode, 201)
    const deleted = await gql(caller, 'mutation ($id: ID!) { deleteProject(id: $id) }', { id: project.id })
    t.same(deleted.data, { deleteProject: true })
    t.equal((await caller.get(`/api/v1/projects/${project.id}`)).statusCode, 404)
    t.equal((await caller.get(`/api/v1/tasks/${(task.json() as { id: string }).id}`)).statusCode, 404)

    const again = await gql(caller, 'mutation ($id: ID!) { deleteProject(id: $id) }', { id: project.id })
    t.equal(again.status, 404)
    t.match(again.errors, [{ path: ['deleteProject'], extensions: { code: 'GH_NOT_FOUND', status: 404 } }])
  })

  t.test('tasks: create, update, move and delete, each visible through REST', async t => {
    const tenant = await backend.createTenant()
    const {
      projects: [first, second],
    } = await seed(backend, tenant, 2, 0)
    const caller = callerFor(app, tenant)

    const created = await gql<{ createTask: Record<string, unknown> & { id: string } }>(
      caller,
      `mutation ($projectId: ID!, $input: CreateTaskInput!) { createTask(projectId: $projectId, input: $input) { ${TASK_FIELDS} } }`,
      { projectId: first!.id, input: { title: 'Book the venue', priority: 3, dueDate: '2026-12-01' } },
    )
    t.equal(created.errors, undefined)
    const task = created.data!.createTask
    t.match(task, {
      title: 'Book the venue',
      description: null,
      status: 'todo',
      priority: 3,
      dueDate: '2026-12-01',
      project: { id: first!.id },
    })
    const { project, ...restShape } = task as typeof task & { project: { id: string } }
    t.same((await caller.get(`/api/v1/tasks/${task.id}`)).json(), { ...restShape, projectId: project.id })

    const updated = await gql<{ updateTask: Record<string, unknown> }>(
      caller,
      `mutation ($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { ${TASK_FIELDS} } }`,
      { id: task.id, input: { status: 'in_progress', dueDate: null, projectId: second!.id } },
    )
    t.equal(updated.errors, undefined)
    t.match(updated.data!.updateTask, {
      status: 'in_progress',
      dueDate: null,
      priority: 3,
      project: { id: second!.id },
    })
    t.match((await caller.get(`/api/v1/tasks/${task.id}`)).json(), {
      status: 'in_progress',
      dueDate: null,
      projectId: second!.id,
    })
    const secondTasks = (await caller.get(`/api/v1/projects/${second!.id}/tasks`)).json() as {
      data: Array<{ id: string }>
    }
    t.same(
      secondTasks.data.map(row => row.id),
      [task.id],
      "the move shows in the target project's list",
    )

    const deleted = await gql(caller, 'mutation ($id: ID!) { deleteTask(id: $id) }', { id: task.id })
    t.same(deleted.data, { deleteTask: true })
    t.equal((await caller.get(`/api/v1/tasks/${task.id}`)).statusCode, 404)
  })

  t.test('what REST writes, GraphQL reads and changes', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const project = (await caller.post('/api/v1/projects', { name: 'From REST' })).json() as { id: string }
    const renamed = await gql(
      caller,
      'mutation ($id: ID!) { updateProject(id: $id, input: { name: "Via GraphQL" }) { id name } }',
      { id: project.id },
    )
    t.same(renamed.data, { updateProject: { id: project.id, name: 'Via GraphQL' } })
    t.match((await caller.get(`/api/v1/projects/${project.id}`)).json(), { name: 'Via GraphQL' })
  })

  t.test('invalid inputs are refused whole, name the field, and write nothing', async t => {
    const tenant = await backend.createTenant()
    const {
      projects: [project],
      tasks: [task],
    } = await seed(backend, tenant, 1, 1)
    const caller = callerFor(app, tenant)
    const before = await snapshot(backend, tenant)

    const cases: Array<[string, string, Record<string, unknown>, RegExp]> = [
      ['blank project name', 'mutation { createProject(input: { name: "   " }) { id } }', {}, /^input\.name: /],
      [
        'project name too long',
        'mutation ($name: String!) { createProject(input: { name: $name }) { id } }',
        { name: 'x'.repeat(201) },
        /^input\.name: /,
      ],
      [
        'empty project update',
        'mutation ($id: ID!) { updateProject(id: $id, input: {}) { id } }',
        { id: project!.id },
        /^input: /,
      ],
      [
        'priority out of range',
        'mutation ($p: ID!) { createTask(projectId: $p, input: { title: "ok", priority: 9 }) { id } }',
        { p: project!.id },
        /^input\.priority: /,
      ],
      [
        'impossible due date',
        'mutation ($p: ID!) { createTask(projectId: $p, input: { title: "ok", dueDate: "2026-02-30" }) { id } }',
        { p: project!.id },
        /^input\.dueDate: /,
      ],
      [
        'malformed project id',
        'mutation { createTask(projectId: "p1", input: { title: "ok" }) { id } }',
        {},
        /^projectId: /,
      ],
      // One bad field among good ones: the good ones must not be applied either.
      [
        'partly invalid update',
        'mutation ($id: ID!) { updateTask(id: $id, input: { title: "Renamed", status: done, priority: 7 }) { id } }',
        { id: task!.id },
        /^input\.priority: /,
      ],
      [
        'move to a malformed project id',
        'mutation ($id: ID!) { updateTask(id: $id, input: { title: "Renamed", projectId: "nope" }) { id } }',
        { id: task!.id },
        /^input\.projectId: /,
      ],
    ]
    for (const [name, query, variables, message] of cases) {
      const result = await gql(caller, query, variables)
      t.equal(result.status, 400, name)
      t.equal(result.data, null, name)
      t.equal(result.errors?.length, 1, name)
      t.match(result.errors?.[0], { message, extensions: { code: 'GH_INVALID_INPUT', status: 400 } }, name)
    }
    t.same(await snapshot(backend, tenant), before, 'no row was written')
  })

  t.test('type errors are refused by GraphQL validation before anything runs', async t => {
    const tenant = await backend.createTenant()
    const {
      projects: [project],
    } = await seed(backend, tenant, 1, 0)
    const caller = callerFor(app, tenant)
    const before = await snapshot(backend, tenant)
    const cases: Array<[string, Record<string, unknown>]> = [
      [
        'mutation ($p: ID!) { createTask(projectId: $p, input: { title: "ok", priority: "high" }) { id } }',
        { p: project!.id },
      ],
      [
        'mutation ($p: ID!) { createTask(projectId: $p, input: { title: "ok", colour: "red" }) { id } }',
        { p: project!.id },
      ],
      [
        'mutation ($input: CreateProjectInput!) { createProject(input: $input) { id } }',
        { input: { name: 'ok', owner: 'eve' } },
      ],
      ['mutation ($p: ID!) { createTask(projectId: $p, input: { status: done }) { id } }', { p: project!.id }],
    ]
    for (const [query, variables] of cases) {
      const result = await gql(caller, query, variables)
      t.equal(result.status, 400, query)
      t.equal(result.data, null, query)
      t.ok((result.errors?.length ?? 0) > 0, query)
      t.type(result.errors?.[0]?.message, 'string', query)
    }
    t.same(await snapshot(backend, tenant), before, 'no row was written')
  })

  t.test('a request changes one thing: several mutation fields are refused before any runs', async t => {
    const tenant = await backend.createTenant()
    const {
      projects: [project],
    } = await seed(backend, tenant, 1, 0)
    const caller = callerFor(app, tenant)
    const before = await snapshot(backend, tenant)
    const documents = [
      // The first is valid, the second not: run one by one, the first would commit and the answer still say 400.
      'mutation { a: createProject(input: { name: "kept?" }) { id } b: createProject(input: { name: " " }) { id } }',
      'mutation ($id: ID!) { updateProject(id: $id, input: { name: "x" }) { id } deleteProject(id: $id) }',
      'mutation { ...Two } fragment Two on Mutation { a: createProject(input: { name: "a" }) { id } ... on Mutation { b: createProject(input: { name: "b" }) { id } } }',
    ]
    for (const query of documents) {
      const result = await gql(caller, query, query.includes('$id') ? { id: project!.id } : undefined)
      t.equal(result.status, 400, query)
      t.match(
        result.errors,
        [
          {
            message: /^Send one mutation field per request \(this one has 2: /,
            extensions: { code: 'GH_INVALID_INPUT' },
          },
        ],
        query,
      )
    }
    t.same(await snapshot(backend, tenant), before, 'nothing was written')

    const one = await gql(caller, 'mutation { __typename created: createProject(input: { name: "one" }) { id name } }')
    t.equal(one.status, 200, 'one field (beside __typename) is fine')
    t.match(one.data, { __typename: 'Mutation', created: { name: 'one' } })
  })

  t.test('mutations on ids that do not exist are 404s', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const ghost = '00000000-0000-4000-8000-000000000000'
    for (const query of [
      'mutation ($id: ID!) { updateProject(id: $id, input: { name: "x" }) { id } }',
      'mutation ($id: ID!) { updateTask(id: $id, input: { title: "x" }) { id } }',
      'mutation ($id: ID!) { deleteTask(id: $id) }',
      'mutation ($id: ID!) { createTask(projectId: $id, input: { title: "x" }) { id } }',
    ]) {
      const result = await gql(caller, query, { id: ghost })
      t.equal(result.status, 404, query)
      t.match(result.errors, [{ extensions: { code: 'GH_NOT_FOUND', status: 404 } }], query)
    }
  })
})
