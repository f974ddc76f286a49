// Relations are batched: the SQL a query costs depends on its shape, not on how many rows it returns.
// Counted with Prisma's query events, so every statement on the wire counts (set_config and COMMIT too).
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'
import { gql, seed, sqlCounter } from './fixtures/graphql.ts'

interface TaskNode {
  id: string
  title: string
  project: { id: string; name: string }
}
interface ProjectNode {
  id: string
  name: string
  tasks: TaskNode[]
}

// Each unit of work (one service call) is one transaction: set_config, a query or two, COMMIT.
const PER_UNIT = 4

forEachBackend(
  t,
  async (t, backend) => {
    const app = await buildTestApp(t, backend)
    const counter = sqlCounter(backend)

    t.test('projects { tasks { project } } costs the same few statements for 2 or 20 projects', async t => {
      const tenant = await backend.createTenant()
      const { projects, tasks } = await seed(backend, tenant, 20, 5)
      const caller = callerFor(app, tenant)
      // The identity's tenant lookup is cached; make it so before counting, to count only the query's own work.
      await gql(caller, '{ viewer { user } }')

      const counts: number[] = []
      for (const first of [2, 20]) {
        counter.reset()
        const result = await gql<{ projects: { nodes: ProjectNode[] } }>(
          caller,
          `query ($first: Int!) {
        projects(first: $first) { nodes { id name tasks(first: 3) { id title project { id name } } } }
      }`,
          { first },
        )
        counts.push(counter.statements.length)
        t.equal(result.errors, undefined)
        const nodes = result.data!.projects.nodes
        t.same(
          nodes.map(node => node.id),
          projects.slice(0, first).map(project => project.id),
          `${first} projects`,
        )
        for (const node of nodes) {
          t.same(
            node.tasks.map(task => task.id),
            tasks
              .filter(task => task.projectId === node.id)
              .slice(0, 3)
              .map(task => task.id),
          )
          t.ok(node.tasks.every(task => task.project.id === node.id && task.project.name === node.name))
        }
      }
      t.comment(`statements for 2 and 20 projects: ${counts.join(', ')}`)
      t.equal(counts[0], counts[1], 'the statement count does not grow with the number of projects')
      t.ok(counts[0]! > 0, 'the counter sees the statements')
      // Three units: the page of projects, one batch of tasks, one batch of those tasks' projects.
      t.ok(counts[0]! <= 3 * PER_UNIT, `at most three units of work (saw ${counts[0]} statements)`)
    })

    t.test("a project's tasks carry every field as the task query gives it", async t => {
      const tenant = await backend.createTenant()
      const { projects } = await seed(backend, tenant, 2, 3)
      // One task with every optional field set, so the nested loader's mapping of each is seen.
      await backend.asOwner(session =>
        session.query(
          "UPDATE tasks SET description = 'Spelled out', due_date = '2027-03-01', priority = 4 WHERE project_id = $1 AND title LIKE '%task 1'",
          [projects[0]!.id],
        ),
      )
      const caller = callerFor(app, tenant)
      const fields = 'id title description status priority dueDate createdAt updatedAt project { id }'
      const nested = await gql<{ projects: { nodes: Array<{ tasks: Array<Record<string, unknown>> }> } }>(
        caller,
        `{ projects(first: 2) { nodes { tasks(first: 3) { ${fields} } } } }`,
      )
      const direct = await gql<{ tasks: { nodes: Array<Record<string, unknown>> } }>(
        caller,
        `{ tasks(first: 10) { nodes { ${fields} } } }`,
      )
      t.equal(nested.errors, undefined)
      const byId = new Map(direct.data!.tasks.nodes.map(task => [task.id, task]))
      const nestedTasks = nested.data!.projects.nodes.flatMap(node => node.tasks)
      t.equal(nestedTasks.length, 6)
      for (const task of nestedTasks) t.same(task, byId.get(task.id as string))
      t.ok(
        nestedTasks.some(
          task => task.dueDate === '2027-03-01' && task.description === 'Spelled out' && task.priority === 4,
        ),
        'optional fields included',
      )
    })

    t.test('the tasks loader reads the fields the operation asks for, for every alias it merges', async t => {
      const tenant = await backend.createTenant()
      const { projects } = await seed(backend, tenant, 2, 3)
      await backend.asOwner(session =>
        session.query("UPDATE tasks SET due_date = '2027-03-01' WHERE project_id = $1", [projects[0]!.id]),
      )
      const caller = callerFor(app, tenant)
      await gql(caller, '{ viewer { user } }')
      counter.reset()
      // Equal arguments: the loader gets one query per project for both aliases, with one of their infos.
      const nested = await gql<{
        projects: { nodes: Array<{ a: Array<Record<string, unknown>>; b: Array<Record<string, unknown>> }> }
      }>(
        caller,
        `{ projects(first: 2) { nodes { a: tasks(first: 3) { title } b: tasks(first: 3) { ...Due } } } }
         fragment Due on Task { id dueDate createdAt }`,
      )
      t.equal(nested.errors, undefined)
      const ranked = counter.statements.find(statement => statement.includes('row_number()'))!
      t.match(ranked, /\btitle\b/)
      t.match(ranked, 'due_date AS "dueDate"')
      t.match(ranked, 'created_at AS "createdAt"')
      t.notMatch(ranked, /\bdescription\b|\bpriority\b|updated_at AS/, 'fields nobody asked for are not read')

      const direct = await gql<{ tasks: { nodes: Array<Record<string, unknown>> } }>(
        caller,
        '{ tasks(first: 10) { nodes { id title dueDate createdAt project { id } } } }',
      )
      const byProject = (id: string) =>
        direct.data!.tasks.nodes.filter(task => (task.project as { id: string }).id === id)
      for (const [index, node] of nested.data!.projects.nodes.entries()) {
        const own = byProject(projects[index]!.id)
        t.same(
          node.a,
          own.map(task => ({ title: task.title })),
        )
        t.same(
          node.b,
          own.map(task => ({ id: task.id, dueDate: task.dueDate, createdAt: task.createdAt })),
        )
      }
      t.equal(nested.data!.projects.nodes[0]!.b[0]!.dueDate, '2027-03-01')
    })

    t.test('aliased task lists with different arguments batch per argument set', async t => {
      const tenant = await backend.createTenant()
      const { tasks } = await seed(backend, tenant, 20, 6)
      const caller = callerFor(app, tenant)
      await gql(caller, '{ viewer { user } }')

      const counts: number[] = []
      for (const first of [2, 20]) {
        counter.reset()
        const result = await gql<{
          projects: { nodes: Array<{ id: string; oldest: Array<{ id: string }>; done: Array<{ id: string }> }> }
        }>(
          caller,
          `query ($first: Int!) {
        projects(first: $first) { nodes { id oldest: tasks(first: 1) { id } done: tasks(status: done) { id } } }
      }`,
          { first },
        )
        counts.push(counter.statements.length)
        t.equal(result.errors, undefined)
        for (const node of result.data!.projects.nodes) {
          const own = tasks.filter(task => task.projectId === node.id)
          t.same(
            node.oldest.map(task => task.id),
            [own[0]!.id],
          )
          t.same(
            node.done.map(task => task.id),
            own.filter(task => task.status === 'done').map(task => task.id),
          )
        }
      }
      t.equal(counts[0], counts[1], 'the statement count does not grow with the number of projects')
      // The page of projects, then one batch per distinct argument set (two here).
      t.ok(counts[0]! <= 3 * PER_UNIT, `at most three units of work (saw ${counts[0]} statements)`)
    })

    t.test('tasks { project } across projects costs the same for 2 or 40 tasks', async t => {
      const tenant = await backend.createTenant()
      const { projects, tasks } = await seed(backend, tenant, 8, 5)
      const caller = callerFor(app, tenant)
      await gql(caller, '{ viewer { user } }')

      const counts: number[] = []
      for (const first of [2, 40]) {
        counter.reset()
        const result = await gql<{ tasks: { nodes: TaskNode[] } }>(
          caller,
          'query ($first: Int!) { tasks(first: $first) { nodes { id title project { id name } } } }',
          { first },
        )
        counts.push(counter.statements.length)
        t.equal(result.errors, undefined)
        const names = new Map(projects.map(project => [project.id, project.name]))
        t.same(
          result.data!.tasks.nodes.map(task => [task.id, task.project.name]),
          tasks.slice(0, first).map(task => [task.id, names.get(task.projectId)]),
        )
      }
      t.equal(counts[0], counts[1], 'the statement count does not grow with the number of tasks')
      // The page of tasks, then one batch of their projects.
      t.ok(counts[0]! <= 2 * PER_UNIT, `at most two units of work (saw ${counts[0]} statements)`)
    })
  },
  { emitQueryEvents: true },
)
