// The api section's five loads, described once so every subject is sent exactly the same requests, and what a
// right answer to each holds (from the seeded rows). Kept free of heavy imports: the reference service reads
// its GraphQL query from here.
import { isDeepStrictEqual } from 'node:util'
import { signIdentity } from '../../common/identity-signature.ts'
import type { ApiScenarioId } from '../settings.ts'
import type { WrkRequest } from '../wrk.ts'
import type { PlannedProject, SeedPlan } from './database.ts'

export const LIST_LIMIT = 20
export const GRAPHQL_PAGE = { projects: 10, tasks: 5 }
export const GRAPHQL_QUERY = `{ projects(first: ${GRAPHQL_PAGE.projects}) { nodes { name tasks(first: ${GRAPHQL_PAGE.tasks}) { title status } } next } }`
const CREATED_NAME = 'Benchmark project'

export interface Caller {
  tenant: string
  user: string
}
export const READER: Caller = { tenant: 'acme', user: 'alice' }
export const WRITER: Caller = { tenant: 'globex', user: 'bob' }

export interface ApiScenario {
  id: ApiScenarioId
  title: string
  caller: Caller
  /** What wrk sends, in turn: one request, or (update) one per row so that no two connections wait on one row lock. */
  requests: Array<{ method: 'GET' | 'POST' | 'PATCH'; path: string; body?: string }>
  expectedStatus: number
  /** Whether it adds or changes rows: the created ones are deleted after each run. */
  writes: boolean
  /**
   * How a subject's answer to the first request must match the API's: `equal` (reads: the same rows, cursor and
   * all) or `keys` (writes: new ids and times each call, the same fields).
   */
  sameAs: 'equal' | 'keys'
  /** What is wrong with an answer to the first request, from the seeded rows; empty when it is right. */
  check(body: unknown): string[]
}

const projectDto = (project: PlannedProject) => ({
  id: project.id,
  name: project.name,
  description: project.description,
  createdAt: project.createdAt,
  updatedAt: project.createdAt,
})

const PROJECT_KEYS = Object.keys(projectDto({ id: '', name: '', description: '', createdAt: '', tasks: [] })).sort()

/** Differences between an answer and the rows it should hold (`next`, the cursor, only checked to be a string). */
function compare(what: string, actual: unknown, expected: unknown): string[] {
  return isDeepStrictEqual(actual, expected)
    ? []
    : [`${what}: ${JSON.stringify(actual)?.slice(0, 300)}, expected ${JSON.stringify(expected).slice(0, 300)}`]
}

function projectProblems(body: unknown, expected: { id?: string; name: string }): string[] {
  const project = body as Record<string, unknown> | null
  if (project === null || typeof project !== 'object') return [`not a project: ${JSON.stringify(body)?.slice(0, 200)}`]
  return [
    ...compare('fields', Object.keys(project).sort(), PROJECT_KEYS),
    ...compare('name', project.name, expected.name),
    ...(expected.id !== undefined ? compare('id', project.id, expected.id) : []),
  ]
}

/** `{ …, next: "<cursor>" }` with the rest as expected. */
function pageProblems(
  body: unknown,
  expected: Record<string, unknown>,
  at: (body: unknown) => { next?: unknown } | undefined,
): string[] {
  const page = at(body)
  if (page === undefined || page === null || typeof page !== 'object') {
    return [`not a page: ${JSON.stringify(body)?.slice(0, 200)}`]
  }
  const { next, ...rest } = page
  return [
    ...(typeof next === 'string' ? [] : [`next: ${JSON.stringify(next)}, expected a cursor`]),
    ...compare('rows', rest, expected),
  ]
}

export function buildApiScenarios(plan: SeedPlan, ids: readonly ApiScenarioId[]): ApiScenario[] {
  const listed = plan.readProjects.slice(0, LIST_LIMIT).map(projectDto)
  const target = plan.readProjects[0]!
  const graphqlNodes = plan.readProjects.slice(0, GRAPHQL_PAGE.projects).map(project => ({
    name: project.name,
    tasks: project.tasks.slice(0, GRAPHQL_PAGE.tasks).map(task => ({ title: task.title, status: task.status })),
  }))
  const all: ApiScenario[] = [
    {
      id: 'list',
      title: `List: GET /api/v1/projects?limit=${LIST_LIMIT}`,
      caller: READER,
      requests: [{ method: 'GET', path: `/api/v1/projects?limit=${LIST_LIMIT}` }],
      expectedStatus: 200,
      writes: false,
      sameAs: 'equal',
      check: body => pageProblems(body, { data: listed }, answer => answer as { next?: unknown }),
    },
    {
      id: 'get',
      title: 'Get: GET /api/v1/projects/<id>',
      caller: READER,
      requests: [{ method: 'GET', path: `/api/v1/projects/${target.id}` }],
      expectedStatus: 200,
      writes: false,
      sameAs: 'equal',
      check: body => compare('project', body, projectDto(target)),
    },
    {
      id: 'create',
      title: 'Create: POST /api/v1/projects',
      caller: WRITER,
      requests: [
        {
          method: 'POST',
          path: '/api/v1/projects',
          body: JSON.stringify({ name: CREATED_NAME, description: 'Created by the api section of npm run bench' }),
        },
      ],
      expectedStatus: 201,
      writes: true,
      sameAs: 'keys',
      check: body => projectProblems(body, { name: CREATED_NAME }),
    },
    {
      id: 'update',
      title: `Update: PATCH /api/v1/projects/<id>, rotating over ${plan.writeProjects.length} projects`,
      caller: WRITER,
      requests: plan.writeProjects.map((project, index) => ({
        method: 'PATCH',
        path: `/api/v1/projects/${project.id}`,
        body: JSON.stringify({ name: `Renamed ${index + 1}` }),
      })),
      expectedStatus: 200,
      writes: true,
      sameAs: 'keys',
      check: body => projectProblems(body, { id: plan.writeProjects[0]!.id, name: 'Renamed 1' }),
    },
    {
      id: 'graphql',
      title: `GraphQL: ${GRAPHQL_QUERY}`,
      caller: READER,
      requests: [{ method: 'POST', path: '/graphql', body: JSON.stringify({ query: GRAPHQL_QUERY }) }],
      expectedStatus: 200,
      writes: false,
      sameAs: 'equal',
      check: body =>
        pageProblems(
          body,
          { nodes: graphqlNodes },
          answer => (answer as { data?: { projects?: { next?: unknown } } } | null)?.data?.projects,
        ),
    },
  ]
  return all.filter(scenario => ids.includes(scenario.id))
}

/**
 * The scenario's requests with identity headers as the edge would sign them, made just before a run: the
 * signature's timestamp must stay within IDENTITY_MAX_AGE_SECONDS until it ends. Replaying a signed request is
 * what lets wrk send it again and again.
 */
export function signScenario(secret: string, scenario: ApiScenario, now = Date.now()): WrkRequest[] {
  return scenario.requests.map(request => ({
    ...request,
    headers: {
      ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...signIdentity(
        secret,
        {
          ...scenario.caller,
          requestId: `bench-api-${scenario.id}`,
          method: request.method,
          url: request.path,
          body: request.body,
        },
        now,
      ),
    },
  }))
}
