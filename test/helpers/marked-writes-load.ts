// Steady concurrent traffic for database fault drills: writers that each create a project named by a
// unique marker (so what reached the database can be reconciled with what was acknowledged), and readers
// that list projects, over REST and GraphQL. Every request has a deadline, so a hang shows up as an
// outcome instead of a stall.
import { Agent, request } from 'undici'
import { signIdentity } from '../../common/identity-signature.js'
import { TEST_IDENTITY_SECRET } from './build-app.js'
import { basic, type Login } from './edge-stack.js'

export interface Outcome {
  kind: 'write' | 'read'
  via: 'api' | 'edge'
  protocol: 'rest' | 'graphql'
  /** Also the request id, and for writes the project's name. */
  marker: string
  startedAt: number
  endedAt: number
  /** The HTTP status, or 0 when no response came (refused, reset, or the deadline passed). */
  status: number
  error?: string
  retryAfter?: string
  contentType?: string
  /** The problem's code (REST), or the first error's code (GraphQL). */
  code?: string
  /** A write answered as done: 201 over REST, 200 with the created project and no error over GraphQL. */
  acknowledged?: boolean
  /** The created row's id, for acknowledged writes. */
  id?: string
}

interface GraphqlAnswer {
  data?: { createProject?: { id: string, name: string } } | null
  errors?: Array<{ extensions?: { code?: string } }>
}

export interface LoadTarget {
  apiUrl: string
  tenantSlug: string
  /** The edge proxy in front of the API: when given, every other writer goes through it. */
  edge?: { url: string, login: Login, ca: string }
}

export interface LoadPlan { writers: number, readers: number, pauseMs: number, deadlineMs: number }

export interface Load {
  outcomes: Outcome[]
  stop(): Promise<void>
}

export function startMarkedWritesLoad (target: LoadTarget, plan: LoadPlan): Load {
  const outcomes: Outcome[] = []
  let running = true
  let sequence = 0
  const timeouts = { headersTimeout: plan.deadlineMs, bodyTimeout: plan.deadlineMs }
  const direct = new Agent({ connections: plan.writers + plan.readers, ...timeouts })
  const edge = target.edge === undefined
    ? undefined
    : new Agent({ connect: { ca: target.edge.ca, servername: 'localhost' }, connections: plan.writers, ...timeouts })
  const marker = (kind: string): string => `drill-${kind}-${String(++sequence).padStart(5, '0')}-${Math.random().toString(36).slice(2, 8)}`

  const requestFor = (kind: Outcome['kind'], protocol: Outcome['protocol'], marker: string): { method: string, path: string, body?: string } => {
    if (protocol === 'graphql') {
      const query = kind === 'write'
        ? 'mutation Create($name: String!) { createProject(input: { name: $name }) { id name } }'
        : '{ projects(first: 5) { nodes { id name } } }'
      return { method: 'POST', path: '/graphql', body: JSON.stringify({ query, ...(kind === 'write' ? { variables: { name: marker } } : {}) }) }
    }
    return kind === 'write'
      ? { method: 'POST', path: '/api/v1/projects', body: JSON.stringify({ name: marker }) }
      : { method: 'GET', path: '/api/v1/projects?limit=5' }
  }

  const send = async (kind: Outcome['kind'], via: Outcome['via'], protocol: Outcome['protocol']): Promise<void> => {
    const id = marker(kind === 'write' ? 'w' : 'r')
    const { method, path, body } = requestFor(kind, protocol, id)
    const headers: Record<string, string> = { 'x-request-id': id, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }
    if (via === 'edge') headers.authorization = basic(target.edge!.login)
    else Object.assign(headers, signIdentity(TEST_IDENTITY_SECRET, { tenant: target.tenantSlug, user: 'drill', requestId: id, method, url: path }))
    const outcome: Outcome = { kind, via, protocol, marker: id, startedAt: Date.now(), endedAt: 0, status: 0 }
    outcomes.push(outcome)
    try {
      const response = await request(`${via === 'edge' ? target.edge!.url : target.apiUrl}${path}`, {
        method, headers, dispatcher: via === 'edge' ? edge : direct, ...(body !== undefined ? { body } : {}),
        // A last resort behind the dispatcher's own timeouts: nothing may hold a worker forever.
        signal: AbortSignal.timeout(plan.deadlineMs + 1000),
      })
      const text = await response.body.text()
      outcome.status = response.statusCode
      outcome.retryAfter = response.headers['retry-after'] as string | undefined
      outcome.contentType = response.headers['content-type'] as string | undefined
      const parsed = text === '' ? {} : JSON.parse(text) as GraphqlAnswer & { code?: string, id?: string }
      if (protocol === 'graphql') {
        // A request refused before GraphQL ran (e.g. its tenant could not be looked up) is a REST-style problem.
        outcome.code = parsed.errors?.[0]?.extensions?.code ?? parsed.code
        const created = parsed.data?.createProject
        outcome.acknowledged = kind === 'write' && response.statusCode === 200 && parsed.errors === undefined && created?.name === id
        if (outcome.acknowledged) outcome.id = created!.id
      } else if (response.statusCode >= 400) {
        outcome.code = parsed.code
      } else if (kind === 'write') {
        outcome.acknowledged = response.statusCode === 201
        outcome.id = parsed.id
      }
    } catch (error) {
      outcome.error = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
    } finally {
      outcome.endedAt = Date.now()
    }
  }

  // Odd writers go through the edge; every third writer and reader speaks GraphQL.
  const worker = async (kind: Outcome['kind'], index: number): Promise<void> => {
    const via: Outcome['via'] = kind === 'write' && edge !== undefined && index % 2 === 1 ? 'edge' : 'api'
    const protocol: Outcome['protocol'] = index % 3 === 2 ? 'graphql' : 'rest'
    while (running) {
      await send(kind, via, protocol)
      await new Promise((resolve) => setTimeout(resolve, plan.pauseMs))
    }
  }
  const workers = [
    ...Array.from({ length: plan.writers }, (_, i) => worker('write', i)),
    ...Array.from({ length: plan.readers }, (_, i) => worker('read', i)),
  ]
  return {
    outcomes,
    async stop () {
      running = false
      await Promise.all(workers)
      await Promise.all([direct.close(), edge?.close()])
    },
  }
}
