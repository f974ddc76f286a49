// Keep-alive clients hammering the edge or the API directly, for drills: writers creating a project named
// by a unique marker (also the request id, so the API's log and the database can be reconciled with what
// each client was told), readers listing projects (past the edge's cache). Through the edge half the
// clients speak HTTP/2, half HTTP/1.1; to the API, HTTP/1.1 with signed identities as the edge sends them.
// Every request has a deadline: a hang shows up as an outcome, not as a stuck test.
import { Agent, request } from 'undici'
import { signIdentity } from '../../common/identity-signature.js'
import { TEST_IDENTITY_SECRET } from './build-app.js'
import { basic, type Login } from './edge-stack.js'

export interface LoadOutcome {
  kind: 'write' | 'read'
  marker: string
  startedAt: number
  endedAt: number
  /** 0 when no complete response came (refused, reset, truncated body, deadline). */
  status: number
  error?: string
  /** The created project's id, for acknowledged writes. */
  id?: string
}

export interface LoadPlan { writers: number, readers: number, pauseMs: number, deadlineMs: number }

export type LoadTarget =
  | { via: 'edge', url: string, ca: string, login: Login }
  | { via: 'api', url: string, tenant: string }

export interface KeepAliveLoad {
  outcomes: LoadOutcome[]
  /** Resolves once at least `count` requests have been answered (or failed). */
  settled(count: number): Promise<void>
  stop(): Promise<void>
}

export function startKeepAliveLoad (target: LoadTarget, plan: LoadPlan): KeepAliveLoad {
  const outcomes: LoadOutcome[] = []
  let running = true
  let sequence = 0
  let done = 0
  const waiters: Array<{ count: number, resolve: () => void }> = []
  const timeouts = { headersTimeout: plan.deadlineMs, bodyTimeout: plan.deadlineMs }
  const agents = target.via === 'edge'
    ? [true, false].map((allowH2) => new Agent({ connect: { ca: target.ca, servername: 'localhost' }, allowH2, ...timeouts }))
    : [new Agent({ connections: plan.writers + plan.readers, ...timeouts })]
  const credentials = (method: string, path: string, marker: string): Record<string, string> => target.via === 'edge'
    ? { authorization: basic(target.login) }
    : signIdentity(TEST_IDENTITY_SECRET, { tenant: target.tenant, user: 'drill', requestId: marker, method, url: path })

  const send = async (kind: LoadOutcome['kind'], agent: Agent): Promise<void> => {
    const marker = `load-${kind[0]}-${String(++sequence).padStart(5, '0')}-${Math.random().toString(36).slice(2, 8)}`
    const outcome: LoadOutcome = { kind, marker, startedAt: Date.now(), endedAt: 0, status: 0 }
    outcomes.push(outcome)
    const [method, path] = kind === 'write' ? ['POST', '/api/v1/projects'] : ['GET', '/api/v1/projects?limit=5']
    try {
      const response = await request(`${target.url}${path}`, {
        dispatcher: agent,
        method,
        headers: {
          ...credentials(method, path, marker),
          'x-request-id': marker,
          ...(kind === 'write' ? { 'content-type': 'application/json' } : { 'cache-control': 'no-store' }),
        },
        ...(kind === 'write' ? { body: JSON.stringify({ name: marker }) } : {}),
        signal: AbortSignal.timeout(plan.deadlineMs + 1000),
      })
      // The whole body, parsed: a truncated answer is a failure, not a success.
      const body = await response.body.json() as { id?: string }
      outcome.status = response.statusCode
      if (kind === 'write' && response.statusCode === 201) outcome.id = body.id
    } catch (error) {
      outcome.error = `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`.trim()
    } finally {
      outcome.endedAt = Date.now()
      done++
      for (const waiter of waiters.filter((w) => done >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }

  const worker = async (kind: LoadOutcome['kind'], index: number): Promise<void> => {
    const agent = agents[index % agents.length]!
    while (running) {
      await send(kind, agent)
      if (plan.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, plan.pauseMs))
    }
  }
  const workers = [
    ...Array.from({ length: plan.writers }, (_, i) => worker('write', i)),
    ...Array.from({ length: plan.readers }, (_, i) => worker('read', i)),
  ]
  return {
    outcomes,
    settled: (count) => done >= count ? Promise.resolve() : new Promise((resolve) => { waiters.push({ count, resolve }) }),
    async stop () {
      running = false
      await Promise.all(workers)
      await Promise.all(agents.map((agent) => agent.close()))
    },
  }
}

/** "write 201: 40, read 200: 38, write no answer (ECONNRESET …): 1" — for assertion messages. */
export function outcomeSummary (outcomes: Array<{ kind: string, status: number, error?: string }>): string {
  const counts = new Map<string, number>()
  for (const o of outcomes) {
    const key = `${o.kind} ${o.status === 0 ? `no answer (${o.error})` : o.status}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].sort().map(([key, n]) => `${key}: ${n}`).join(', ')
}
