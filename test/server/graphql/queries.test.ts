// Reads over GraphQL return exactly the caller's tenant's rows, page by page, with nested tasks and filters.
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'
import { gql, seed, type GraphqlResult } from './fixtures/graphql.ts'

interface Node {
  id: string
  name: string
}
interface Connection<T> {
  nodes: T[]
  next: string | null
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test('viewer names the signed user and their tenant', async t => {
    const [free, pro] = [await backend.createTenant('free'), await backend.createTenant('pro')]
    const query = '{ viewer { user tenant { id slug name plan } } }'
    const alice = await gql(callerFor(app, free, 'alice'), query)
    t.equal(alice.status, 200)
    t.same(alice.data, {
      viewer: { user: 'alice', tenant: { id: free.id, slug: free.slug, name: `Tenant ${free.slug}`, plan: 'free' } },
    })
    const bob = await gql(callerFor(app, pro, 'bob'), query)
    t.same(bob.data, {
      viewer: { user: 'bob', tenant: { id: pro.id, slug: pro.slug, name: `Tenant ${pro.slug}`, plan: 'pro' } },
    })
  })

  t.test("projects are paged with first/next and hold only the tenant's rows", async t => {
    const [mine, other] = [await backend.createTenant(), await backend.createTenant()]
    const { projects } = await seed(backend, mine, 5, 0, 'Mine')
    await seed(backend, other, 3, 0, 'Other')
    const caller = callerFor(app, mine)
    const pageQuery = 'query ($after: String) { projects(first: 2, after: $after) { nodes { id name } next } }'

    const seen: Array<Array<string>> = []
    let after: string | null = null
    for (let page = 0; page < 5; page++) {
      const result: GraphqlResult<{ projects: Connection<Node> }> = await gql(caller, pageQuery, { after })
      t.equal(result.status, 200)
      t.equal(result.errors, undefined)
      seen.push(result.data!.projects.nodes.map(node => node.name))
      after = result.data!.projects.next
      if (after === null) break
    }
    // Oldest first by default; the last page says so with a null `next`.
    t.same(seen, [['Mine 001', 'Mine 002'], ['Mine 003', 'Mine 004'], ['Mine 005']])

    const all = await gql<{ projects: Connection<Node> }>(caller, '{ projects(first: 100) { nodes { id } next } }')
    t.same(
      all.data!.projects.nodes.map(node => node.id),
      projects.map(project => project.id),
    )
    t.equal(all.data!.projects.next, null)
  })

  t.test('projects sort and filter by name', async t => {
    const tenant = await backend.createTenant()
    await seed(backend, tenant, 4, 0, 'Board')
    const caller = callerFor(app, tenant)
    const sorted = await gql<{ projects: Connection<Node> }>(
      caller,
      '{ projects(first: 3, sort: name_desc) { nodes { name } next } }',
    )
    t.same(
      sorted.data!.projects.nodes.map(node => node.name),
      ['Board 004', 'Board 003', 'Board 002'],
    )
    t.type(sorted.data!.projects.next, 'string')
    const filtered = await gql<{ projects: Connection<Node> }>(
      caller,
      '{ projects(q: "board 002") { nodes { name } next } }',
    )
    t.same(
      filtered.data!.projects.nodes.map(node => node.name),
      ['Board 002'],
      'q is a case-insensitive substring',
    )
  })

  t.test("nested tasks are each project's oldest, limited by first and filtered by status", async t => {
    const tenant = await backend.createTenant()
    const { projects, tasks } = await seed(backend, tenant, 3, 4)
    const caller = callerFor(app, tenant)
    const result = await gql<{
      projects: Connection<
        Node & { tasks: Array<{ id: string; project: { id: string } }>; done: Array<{ id: string; status: string }> }
      >
    }>(
      caller,
      `{
      projects(first: 10) { nodes { id name tasks(first: 2) { id project { id } } done: tasks(status: done) { id status } } }
    }`,
    )
    t.equal(result.status, 200)
    t.equal(result.errors, undefined)
    const nodes = result.data!.projects.nodes
    t.same(
      nodes.map(node => node.id),
      projects.map(project => project.id),
    )
    for (const node of nodes) {
      const own = tasks.filter(task => task.projectId === node.id)
      t.same(
        node.tasks.map(task => task.id),
        own.slice(0, 2).map(task => task.id),
        `${node.name}: first two tasks, oldest first`,
      )
      t.ok(
        node.tasks.every(task => task.project.id === node.id),
        `${node.name}: tasks point back to their project`,
      )
      t.same(
        node.done.map(task => task.id),
        own.filter(task => task.status === 'done').map(task => task.id),
        `${node.name}: done tasks only`,
      )
    }
  })

  t.test('tasks across projects filter and page like REST', async t => {
    const [tenant, other] = [await backend.createTenant(), await backend.createTenant()]
    const { projects, tasks } = await seed(backend, tenant, 2, 6)
    await seed(backend, other, 2, 6)
    const caller = callerFor(app, tenant)
    const target = projects[1]!
    const expected = tasks.filter(task => task.projectId === target.id && task.priority >= 2).map(task => task.id)
    t.ok(expected.length >= 2, 'the seed gives the filter something to keep and something to drop')

    const query = `query ($filter: TaskFilter, $after: String) {
      tasks(first: 2, after: $after, filter: $filter) { nodes { id priority project { id } } next }
    }`
    const filter = { projectId: target.id, priorityAtLeast: 2 }
    const ids: string[] = []
    let after: string | null = null
    do {
      const page: GraphqlResult<{ tasks: Connection<{ id: string; priority: number; project: { id: string } }> }> =
        await gql(caller, query, { filter, after })
      t.equal(page.errors, undefined)
      ids.push(...page.data!.tasks.nodes.map(node => node.id))
      t.ok(page.data!.tasks.nodes.every(node => node.priority >= 2 && node.project.id === target.id))
      after = page.data!.tasks.next
    } while (after !== null && ids.length < 50)
    t.same(ids, expected)

    const all = await gql<{ tasks: Connection<{ id: string }> }>(caller, '{ tasks(first: 100) { nodes { id } next } }')
    t.same(
      all.data!.tasks.nodes.map(node => node.id).sort(),
      tasks.map(task => task.id).sort(),
      "no other tenant's tasks",
    )
  })

  t.test('single project and task by id; unknown ids are null', async t => {
    const tenant = await backend.createTenant()
    const { projects, tasks } = await seed(backend, tenant, 1, 1)
    const caller = callerFor(app, tenant)
    const found = await gql(
      caller,
      'query ($p: ID!, $t: ID!) { project(id: $p) { id name } task(id: $t) { id title project { id } } }',
      { p: projects[0]!.id, t: tasks[0]!.id },
    )
    t.same(found.data, {
      project: { id: projects[0]!.id, name: 'Project 001' },
      task: { id: tasks[0]!.id, title: 'Project 001 / task 1', project: { id: projects[0]!.id } },
    })
    const missing = await gql(caller, 'query ($id: ID!) { project(id: $id) { id } task(id: $id) { id } }', {
      id: '00000000-0000-4000-8000-000000000000',
    })
    t.same(missing.data, { project: null, task: null })
    t.equal(missing.errors, undefined)
  })

  t.test('bad arguments are client errors naming the argument', async t => {
    const caller = callerFor(app, await backend.createTenant())
    const cases: Array<[string, string, RegExp]> = [
      ['{ projects(first: 0) { next } }', 'GH_INVALID_INPUT', /limit/],
      ['{ projects(first: 101) { next } }', 'GH_INVALID_INPUT', /limit/],
      ['{ projects(after: "not-a-cursor") { next } }', 'GH_INVALID_CURSOR', /cursor/],
      ['{ tasks(filter: { dueBefore: "tomorrow" }) { next } }', 'GH_INVALID_INPUT', /filter\.dueBefore/],
    ]
    for (const [query, code, message] of cases) {
      const result = await gql(caller, query)
      t.equal(result.status, 400, query)
      t.equal(result.data, null, query)
      t.equal(result.errors?.[0]?.extensions.code, code, query)
      t.match(result.errors?.[0]?.message, message, query)
    }
    // A nullable field fails alone: the response still has data, so it is a 200 with the error beside it.
    const partial = await gql(caller, '{ project(id: "42") { id } viewer { user } }')
    t.equal(partial.status, 200)
    t.same(partial.data, { project: null, viewer: { user: 'alice' } })
    t.match(partial.errors, [
      { path: ['project'], message: /^id: /, extensions: { code: 'GH_INVALID_INPUT', status: 400 } },
    ])
  })
})
