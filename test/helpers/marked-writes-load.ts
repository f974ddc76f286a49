// Steady concurrent traffic for drills: writers that each create a project named by a unique marker (also
// the request id, so the API's log and the database can be reconciled with what each client was told), and
// readers that list projects (past the edge's cache), over REST and, if asked, GraphQL. Straight to the API
// (HTTP/1.1, identities signed as the edge signs them) or through the edge (half the clients over HTTP/2,
// half HTTP/1.1). Every request has a deadline, so a hang shows up as an outcome instead of a stall.
import type { Test } from 'tap'
import { Agent, request } from 'undici'
import { signIdentity } from '../../common/identity-signature.ts'
import { TEST_IDENTITY_SECRET } from './build-app.ts'
import { basic, type Login } from './edge-stack.ts'

/** How every write's marker (and so its project's name) begins. */
export const WRITE_PREFIX = 'load-w-'

export interface Outcome {
  /** Which of the load's clients sent it ('write-0', 'read-3', …): each sends one request at a time. */
  client: string
  kind: 'write' | 'read'
  via: 'api' | 'edge'
  protocol: 'rest' | 'graphql'
  /** Also the request id, and for writes the project's name. */
  marker: string
  startedAt: number
  endedAt: number
  /** The HTTP status, or 0 when no complete response came (refused, reset, truncated body, deadline). */
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
  data?: { createProject?: { id: string; name: string } } | null
  errors?: Array<{ extensions?: { code?: string } }>
}

export interface LoadTarget {
  tenantSlug: string
  /** The API, reached straight. */
  apiUrl?: string
  /** The edge proxy in front of it. */
  edge?: { url: string; login: Login; ca: string }
}

export interface LoadPlan {
  writers: number
  readers: number
  pauseMs: number
  deadlineMs: number
  /**
   * Every client through the edge, every one straight to the API, or every other writer through the edge and the rest
   * straight.
   */
  through: 'edge' | 'api' | 'alternate'
  /** Every third writer and reader speaks GraphQL. */
  graphql?: boolean
}

export interface Load {
  outcomes: Outcome[]
  /** Resolves once at least `count` requests have been answered (or failed). */
  settled(count: number): Promise<void>
  stop(): Promise<void>
}

export function startMarkedWritesLoad(target: LoadTarget, plan: LoadPlan): Load {
  const outcomes: Outcome[] = []
  let running = true
  let sequence = 0
  let done = 0
  const waiters: Array<{ count: number; resolve: () => void }> = []
  const timeouts = { headersTimeout: plan.deadlineMs, bodyTimeout: plan.deadlineMs }
  const direct = new Agent({ connections: plan.writers + plan.readers, ...timeouts })
  const edge =
    target.edge === undefined
      ? []
      : [true, false].map(
          allowH2 => new Agent({ connect: { ca: target.edge!.ca, servername: 'localhost' }, allowH2, ...timeouts }),
        )
  let edgeClients = 0

  const requestFor = (
    kind: Outcome['kind'],
    protocol: Outcome['protocol'],
    marker: string,
  ): { method: string; path: string; body?: string } => {
    if (protocol === 'graphql') {
      const query =
        kind === 'write'
          ? 'mutation Create($name: String!) { createProject(input: { name: $name }) { id name } }'
          : '{ projects(first: 5) { nodes { id name } } }'
      return {
        method: 'POST',
        path: '/graphql',
        body: JSON.stringify({ query, ...(kind === 'write' ? { variables: { name: marker } } : {}) }),
      }
    }
    return kind === 'write'
      ? { method: 'POST', path: '/api/v1/projects', body: JSON.stringify({ name: marker }) }
      : { method: 'GET', path: '/api/v1/projects?limit=5' }
  }

  const send = async (
    client: string,
    kind: Outcome['kind'],
    via: Outcome['via'],
    protocol: Outcome['protocol'],
    dispatcher: Agent,
  ): Promise<void> => {
    const id = `${kind === 'write' ? WRITE_PREFIX : 'load-r-'}${String(++sequence).padStart(5, '0')}-${Math.random().toString(36).slice(2, 8)}`
    const { method, path, body } = requestFor(kind, protocol, id)
    const headers: Record<string, string> = {
      'x-request-id': id,
      ...(body !== undefined ? { 'content-type': 'application/json' } : { 'cache-control': 'no-store' }),
    }
    if (via === 'edge') headers.authorization = basic(target.edge!.login)
    else {
      Object.assign(
        headers,
        signIdentity(TEST_IDENTITY_SECRET, {
          tenant: target.tenantSlug,
          user: 'drill',
          requestId: id,
          method,
          url: path,
          body,
        }),
      )
    }
    const outcome: Outcome = { client, kind, via, protocol, marker: id, startedAt: Date.now(), endedAt: 0, status: 0 }
    outcomes.push(outcome)
    try {
      const response = await request(`${via === 'edge' ? target.edge!.url : target.apiUrl}${path}`, {
        method,
        headers,
        dispatcher,
        ...(body !== undefined ? { body } : {}),
        // A last resort behind the dispatcher's own timeouts: nothing may hold a worker forever.
        signal: AbortSignal.timeout(plan.deadlineMs + 1000),
      })
      // The whole body: a truncated answer is a failure, not a success.
      const text = await response.body.text()
      outcome.status = response.statusCode
      outcome.retryAfter = response.headers['retry-after'] as string | undefined
      outcome.contentType = response.headers['content-type'] as string | undefined
      const parsed = text === '' ? {} : (JSON.parse(text) as GraphqlAnswer & { code?: string; id?: string })
      if (protocol === 'graphql') {
        // A request refused before GraphQL ran (e.g. its tenant could not be looked up) is a REST-style problem.
        outcome.code = parsed.errors?.[0]?.extensions?.code ?? parsed.code
        const created = parsed.data?.createProject
        outcome.acknowledged =
          kind === 'write' && response.statusCode === 200 && parsed.errors === undefined && created?.name === id
        if (outcome.acknowledged) outcome.id = created!.id
      } else if (response.statusCode >= 400) {
        outcome.code = parsed.code
      } else if (kind === 'write') {
        outcome.acknowledged = response.statusCode === 201
        outcome.id = parsed.id
      }
    } catch (error) {
      outcome.error = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`.trim()
    } finally {
      outcome.endedAt = Date.now()
      done++
      for (const waiter of waiters.filter(w => done >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }

  const worker = async (kind: Outcome['kind'], index: number): Promise<void> => {
    const via: Outcome['via'] =
      plan.through === 'edge' || (plan.through === 'alternate' && kind === 'write' && index % 2 === 1) ? 'edge' : 'api'
    const protocol: Outcome['protocol'] = plan.graphql === true && index % 3 === 2 ? 'graphql' : 'rest'
    const dispatcher = via === 'edge' ? edge[edgeClients++ % edge.length]! : direct
    while (running) {
      await send(`${kind}-${index}`, kind, via, protocol, dispatcher)
      if (plan.pauseMs > 0) await new Promise(resolve => setTimeout(resolve, plan.pauseMs))
    }
  }
  const workers = [
    ...Array.from({ length: plan.writers }, (_, i) => worker('write', i)),
    ...Array.from({ length: plan.readers }, (_, i) => worker('read', i)),
  ]
  return {
    outcomes,
    settled: count =>
      done >= count
        ? Promise.resolve()
        : new Promise(resolve => {
            waiters.push({ count, resolve })
          }),
    async stop() {
      running = false
      await Promise.all(workers)
      await Promise.all([direct, ...edge].map(agent => agent.close()))
    },
  }
}

/** "rest write/api 201: 40, graphql read/edge 503 GH_DATABASE_UNAVAILABLE: 3, rest write/api no answer (…): 1" */
export function outcomeSummary(outcomes: Outcome[]): string {
  const counts = new Map<string, number>()
  for (const o of outcomes) {
    const key = `${o.protocol} ${o.kind}/${o.via} ${o.status === 0 ? `no answer (${o.error})` : o.status}${o.code !== undefined ? ` ${o.code}` : ''}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts]
    .sort()
    .map(([key, n]) => `${key}: ${n}`)
    .join(', ')
}

/** What the database holds of the writes: project name → the ids of the rows bearing it. */
export type StoredProjects = Map<string, string[]>

/** Those of `stored` whose name begins with `prefix`. */
export const namedWith = (stored: StoredProjects, prefix: string): StoredProjects =>
  new Map([...stored].filter(([name]) => name.startsWith(prefix)))

/** One name per stored row: a name stored twice appears twice. */
export const rowNames = (stored: StoredProjects): string[] => [...stored].flatMap(([name, ids]) => ids.map(() => name))

/** A write as its client saw it: `id` when the answer said which row it made. */
export interface MarkedWrite {
  marker: string
  acknowledged?: boolean
  id?: string
}

/**
 * Checks what clients were told against what the database holds (`stored`: the projects the writes could
 * have made): every acknowledged write is stored exactly once (with the id it was answered with), none is
 * stored twice, nothing is stored that no one sent. An unacknowledged write may be stored when its request
 * can have committed before the answer was lost (a connection cut after COMMIT), or must be absent.
 */
export function reconcileWrites(
  t: Test,
  stored: StoredProjects,
  writes: MarkedWrite[],
  unacknowledged: 'may be stored' | 'absent',
): void {
  const acknowledged = writes.filter(write => write.acknowledged === true)
  const lost = acknowledged.filter(
    write =>
      stored.get(write.marker)?.length !== 1 || (write.id !== undefined && stored.get(write.marker)![0] !== write.id),
  )
  t.strictSame(
    lost.map(write => `${write.marker} → ${JSON.stringify(stored.get(write.marker))}`),
    [],
    `all ${acknowledged.length} acknowledged writes are stored once, with the id they were answered with`,
  )
  t.strictSame(
    [...stored].filter(([, ids]) => ids.length > 1).map(([name]) => name),
    [],
    'no write is stored twice',
  )
  const sent = new Set(writes.map(write => write.marker))
  t.strictSame(
    [...stored.keys()].filter(name => !sent.has(name)),
    [],
    'nothing was stored that no one sent',
  )
  const storedAnyway = writes
    .filter(write => write.acknowledged !== true && stored.has(write.marker))
    .map(write => write.marker)
  if (unacknowledged === 'absent') t.strictSame(storedAnyway, [], 'no write its client was not told of is stored')
  t.comment(
    `${writes.length} writes: ${acknowledged.length} acknowledged, ${writes.length - acknowledged.length} not, ` +
      `${storedAnyway.length} of those stored anyway ${storedAnyway.join(' ')}`,
  )
}
