// Tenant B, over GraphQL, can neither see nor change tenant A's rows: not by id, not through a nested
// selection, not by naming A's project in a mutation's input. The database is checked as its owner.
import t from 'tap'
import type { Backend } from '../../helpers/backends.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'
import type { FastifyInstance } from 'fastify'
import { gql, seed, snapshot } from './fixtures/graphql.ts'

async function twoTenants(backend: Backend, app: FastifyInstance) {
  const [a, b] = [await backend.createTenant(), await backend.createTenant()]
  const seededA = await seed(backend, a, 2, 3, 'Alpha')
  const seededB = await seed(backend, b, 1, 1, 'Beta')
  return { a, b, seededA, seededB, asB: callerFor(app, b, 'mallory') }
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test("reads by id, by filter and through nested selections see only the caller's rows", async t => {
    const { a, seededA, seededB, asB } = await twoTenants(backend, app)
    const [projectA] = seededA.projects
    const [taskA] = seededA.tasks

    const byId = await gql(
      asB,
      `query ($p: ID!, $t: ID!) {
      project(id: $p) { id name tasks { id } }
      task(id: $t) { id title project { id name } }
    }`,
      { p: projectA!.id, t: taskA!.id },
    )
    t.equal(byId.status, 200)
    t.same(byId.data, { project: null, task: null }, "A's ids resolve to nothing for B")
    t.equal(byId.errors, undefined, 'indistinguishable from an id that does not exist')

    const filtered = await gql(
      asB,
      'query ($p: ID!) { tasks(first: 100, filter: { projectId: $p }) { nodes { id } next } }',
      { p: projectA!.id },
    )
    t.same(filtered.data, { tasks: { nodes: [], next: null } })

    const everything = await gql<{
      projects: { nodes: Array<{ id: string; tasks: Array<{ id: string; project: { id: string } }> }> }
      tasks: { nodes: Array<{ id: string }> }
    }>(
      asB,
      `{
      projects(first: 10) { nodes { id tasks(first: 10) { id project { id } } } }
      tasks(first: 100) { nodes { id } }
    }`,
    )
    t.equal(everything.errors, undefined)
    t.same(
      everything.data!.projects.nodes.map(node => node.id),
      seededB.projects.map(project => project.id),
    )
    t.same(
      everything.data!.projects.nodes.flatMap(node => node.tasks.map(task => task.id)),
      seededB.tasks.map(task => task.id),
    )
    t.same(
      everything.data!.tasks.nodes.map(node => node.id),
      seededB.tasks.map(task => task.id),
    )

    // A's page cursor carries sort values, not a tenant: replayed by B it still pages B's rows only.
    const asA = callerFor(app, a)
    const pageA = await gql<{ projects: { next: string } }>(asA, '{ projects(first: 1) { next } }')
    const replay = await gql<{ projects: { nodes: Array<{ id: string }> } }>(
      asB,
      'query ($after: String) { projects(after: $after) { nodes { id } } }',
      { after: pageA.data!.projects.next },
    )
    t.ok(replay.data!.projects.nodes.every(node => seededB.projects.some(project => project.id === node.id)))
  })

  t.test("mutations naming A's rows are 404s and change nothing", async t => {
    const { a, b, seededA, seededB, asB } = await twoTenants(backend, app)
    const [projectA] = seededA.projects
    const [taskA] = seededA.tasks
    const [projectB] = seededB.projects
    const [taskB] = seededB.tasks
    const before = { a: await snapshot(backend, a), b: await snapshot(backend, b) }

    const attempts: Array<[string, string, Record<string, unknown>]> = [
      [
        "rename A's project",
        'mutation ($id: ID!) { updateProject(id: $id, input: { name: "pwned" }) { id } }',
        { id: projectA!.id },
      ],
      ["delete A's project", 'mutation ($id: ID!) { deleteProject(id: $id) }', { id: projectA!.id }],
      [
        "change A's task",
        'mutation ($id: ID!) { updateTask(id: $id, input: { title: "pwned", status: done }) { id } }',
        { id: taskA!.id },
      ],
      [
        "move A's task into B's project",
        'mutation ($id: ID!, $p: ID!) { updateTask(id: $id, input: { projectId: $p }) { id } }',
        { id: taskA!.id, p: projectB!.id },
      ],
      ["delete A's task", 'mutation ($id: ID!) { deleteTask(id: $id) }', { id: taskA!.id }],
      [
        "create a task in A's project",
        'mutation ($p: ID!) { createTask(projectId: $p, input: { title: "planted" }) { id } }',
        { p: projectA!.id },
      ],
      [
        "move B's task into A's project",
        'mutation ($id: ID!, $p: ID!) { updateTask(id: $id, input: { title: "moved", projectId: $p }) { id project { id } } }',
        { id: taskB!.id, p: projectA!.id },
      ],
    ]
    for (const [name, query, variables] of attempts) {
      const result = await gql(asB, query, variables)
      t.equal(result.status, 404, name)
      t.equal(result.data, null, name)
      t.match(result.errors, [{ extensions: { code: 'GH_NOT_FOUND', status: 404 } }], name)
    }
    t.same(await snapshot(backend, a), before.a, "A's rows are untouched")
    t.same(await snapshot(backend, b), before.b, "B's rows are untouched too (no half-applied move or rename)")
  })

  t.test("a mutation's answer cannot reach into another tenant either", async t => {
    const { a, seededB, asB } = await twoTenants(backend, app)
    // B's own legitimate write; its nested selection can only resolve B's rows.
    const result = await gql<{ updateTask: { project: { id: string; tasks: Array<{ id: string }> } } }>(
      asB,
      'mutation ($id: ID!) { updateTask(id: $id, input: { status: done }) { project { id tasks(first: 100) { id } } } }',
      { id: seededB.tasks[0]!.id },
    )
    t.equal(result.errors, undefined)
    t.same(result.data!.updateTask.project, { id: seededB.projects[0]!.id, tasks: [{ id: seededB.tasks[0]!.id }] })
    const rows = await backend.asOwner(session =>
      session.query<{ n: number }>("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1 AND status = 'done'", [
        a.id,
      ]),
    )
    t.equal(rows[0]?.n, 2, 'A still has exactly its seeded done tasks (every third of six)')
  })
})
