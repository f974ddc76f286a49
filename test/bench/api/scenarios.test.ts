// The api section's requests: signed as the API and the reference verify them, the same for every subject, and
// checked against the seeded rows.
import t from 'tap'
import { contentDigest, verifyIdentity } from '../../../common/identity-signature.ts'
import { planSeed, READ_PROJECTS, WRITE_PROJECTS } from '../../../bench/api/database.ts'
import { answerDifference } from '../../../bench/api/probe.ts'
import { buildApiScenarios, signScenario } from '../../../bench/api/scenarios.ts'

const SECRET = 'a-signing-secret-of-at-least-32-characters'
const NOW = 1_800_000_000_000
const plan = planSeed()
const scenarios = buildApiScenarios(plan, ['list', 'get', 'create', 'update', 'graphql'])
const scenario = (id: string) => scenarios.find(candidate => candidate.id === id)!

t.test('every signed request verifies, its body against the signed digest', async t => {
  for (const each of scenarios) {
    for (const request of signScenario(SECRET, each, NOW)) {
      const verified = verifyIdentity(
        SECRET,
        { method: request.method, url: request.path, headers: request.headers },
        60,
        NOW,
      )
      t.equal(verified.ok, true, `${each.id} ${request.path}`)
      if (verified.ok && request.body !== undefined) t.equal(verified.contentDigest, contentDigest(request.body))
    }
  }
})

t.test("updates rotate over every writing project; the reading tenant's rows sort before them", async t => {
  t.equal(scenario('update').requests.length, WRITE_PROJECTS)
  t.equal(new Set(scenario('update').requests.map(request => request.path)).size, WRITE_PROJECTS)
  t.equal(plan.readProjects.length, READ_PROJECTS)
  t.ok(plan.readProjects.at(-1)!.createdAt < plan.writeProjects[0]!.createdAt)
})

t.test('checks compare an answer with the seeded rows', async t => {
  const [first] = plan.readProjects
  const dto = {
    id: first!.id,
    name: first!.name,
    description: first!.description,
    createdAt: first!.createdAt,
    updatedAt: first!.createdAt,
  }
  t.same(scenario('get').check(dto), [])
  t.match(scenario('get').check({ ...dto, name: 'other' }), [/^project: /])
  const nodes = plan.readProjects
    .slice(0, 10)
    .map(project => ({ name: project.name, tasks: project.tasks.map(({ title, status }) => ({ title, status })) }))
  t.same(scenario('graphql').check({ data: { projects: { nodes, next: 'cursor' } } }), [])
  t.match(scenario('graphql').check({ data: { projects: { nodes: nodes.slice(1), next: null } } }), [
    /^next: null/,
    /^rows: /,
  ])
  t.same(scenario('update').check({ ...dto, id: plan.writeProjects[0]!.id, name: 'Renamed 1' }), [])
})

t.test("reads must equal the API's answer; writes need only its fields", async t => {
  t.equal(answerDifference({ sameAs: 'equal' }, { a: 1, b: [2] }, { b: [2], a: 1 }), undefined)
  t.match(answerDifference({ sameAs: 'equal' }, { a: 1 }, { a: 2 }), /the API answered/)
  t.equal(answerDifference({ sameAs: 'keys' }, { id: 'x', name: 'a' }, { name: 'b', id: 'y' }), undefined)
  t.match(answerDifference({ sameAs: 'keys' }, { id: 'x' }, { id: 'y', name: 'b' }), /fields id, the API's id,name/)
})
