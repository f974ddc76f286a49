// Small helpers the /api/v1 suites share: create rows through the API and read JSON bodies.
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { Caller } from '../../../../helpers/build-app.ts'

export interface ProjectBody {
  id: string
  name: string
  description: string | null
  createdAt: string
  updatedAt: string
}
export interface TaskBody {
  id: string
  projectId: string
  title: string
  description: string | null
  status: 'todo' | 'in_progress' | 'done'
  priority: number
  dueDate: string | null
  createdAt: string
  updatedAt: string
}
export interface PageBody<T> {
  data: T[]
  next: string | null
}
export interface ProblemBody {
  type: string
  title: string
  status: number
  code: string
  detail?: string
  instance?: string
  requestId?: string
  errors?: Array<{ in: string; pointer: string; detail: string }>
}

export const body = <T>(response: LightMyRequestResponse): T => response.json<T>()

export async function createProject(
  t: Test,
  caller: Caller,
  input: Record<string, unknown> = {},
): Promise<ProjectBody> {
  const response = await caller.post('/api/v1/projects', {
    name: `Project ${Math.random().toString(36).slice(2, 8)}`,
    ...input,
  })
  t.equal(response.statusCode, 201, 'project created')
  return body<ProjectBody>(response)
}

export async function createTask(
  t: Test,
  caller: Caller,
  projectId: string,
  input: Record<string, unknown> = {},
): Promise<TaskBody> {
  const response = await caller.post(`/api/v1/projects/${projectId}/tasks`, {
    title: `Task ${Math.random().toString(36).slice(2, 8)}`,
    ...input,
  })
  t.equal(response.statusCode, 201, 'task created')
  return body<TaskBody>(response)
}

/** Follows `next` until the last page; fails the test rather than loop forever. */
export async function walkPages<T>(
  t: Test,
  caller: Caller,
  firstUrl: string,
  between?: (page: number) => Promise<void>,
): Promise<T[][]> {
  const pages: T[][] = []
  let url: string | undefined = firstUrl
  while (url !== undefined) {
    const response = await caller.get(url)
    t.equal(response.statusCode, 200, `page ${pages.length + 1} of ${firstUrl}`)
    const page = body<PageBody<T>>(response)
    pages.push(page.data)
    if (pages.length > 50) throw new Error(`more than 50 pages walking ${firstUrl}`)
    if (between !== undefined) await between(pages.length)
    const separator = firstUrl.includes('?') ? '&' : '?'
    url = page.next === null ? undefined : `${firstUrl}${separator}cursor=${encodeURIComponent(page.next)}`
  }
  return pages
}

/** Asserts the RFC 9457 shape every error of the API has, and returns the body. */
export function assertProblem(t: Test, response: LightMyRequestResponse, status: number, kind: string): ProblemBody {
  t.equal(response.statusCode, status, `status ${status} (${kind})`)
  t.match(response.headers['content-type'], /^application\/problem\+json/, 'problem+json content type')
  const problem = body<ProblemBody>(response)
  t.equal(problem.type, `urn:gatehouse:problem:${kind}`, 'stable problem type')
  t.equal(problem.status, status, 'status repeated in the body')
  t.type(problem.code, 'string')
  t.type(problem.title, 'string')
  t.match(problem.requestId, /\S/, 'carries the request id')
  t.equal(problem.requestId, response.headers['x-request-id'], 'same request id as the header')
  return problem
}

/**
 * Rows in the API's default order, (createdAt, id): two rows created in the same millisecond are ordered
 * by id, so expectations are computed from what the API returned rather than from the order of calls.
 */
export function creationOrder<T extends { createdAt: string; id: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
