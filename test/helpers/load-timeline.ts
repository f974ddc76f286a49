// Continuous load for fault drills: a few clients, each sending its next request as soon as its last one
// was answered (after a short pause), every answer recorded with when it started and ended, beside a
// timeline of what the drill did. A drill can then say "every request that started after X and ended
// before Y was answered so", and print what happened when.
import { request, type Dispatcher } from 'undici'

export interface Shot {
  client: string
  kind: string
  method: string
  path: string
  /** Whatever the client put in the request to find its effect later (e.g. a project name). */
  marker?: string
  /** Milliseconds since the timeline started. */
  startedAt: number
  endedAt: number
  /** 0: no answer (a transport error, or none within the bound). */
  status: number
  cacheStatus?: string
  /** RateLimit-Remaining, when the edge counted the request. */
  rateLimitRemaining?: number
  /** Whether the edge's security policy came with the answer (HSTS and a CSP). */
  securityHeaders?: boolean
  problemType?: string
  error?: string
}

export interface ShotSpec {
  kind: string
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string
  marker?: string
}

export interface LoadClient {
  name: string
  /** Basic credentials for every request of this client. */
  authorization: string
  next(index: number): ShotSpec
}

export class Timeline {
  readonly startedAt = Date.now()
  readonly marks: Array<{ name: string; at: number }> = []

  now(): number {
    return Date.now() - this.startedAt
  }

  mark(name: string): number {
    const at = this.now()
    this.marks.push({ name, at })
    return at
  }

  at(name: string): number {
    const found = this.marks.find(mark => mark.name === name)
    if (found === undefined) throw new Error(`no mark "${name}" on the timeline`)
    return found.at
  }

  describe(): string {
    return this.marks.map(({ name, at }) => `${String(at).padStart(6)} ms  ${name}`).join('\n')
  }
}

export interface Load {
  /** Every answer so far (the array grows while the load runs). */
  shots: Shot[]
  /** Stops sending and waits for the requests in flight; returns every answer. */
  stop(): Promise<Shot[]>
}

export interface LoadOptions {
  url: string
  dispatcher: Dispatcher
  timeline: Timeline
  clients: LoadClient[]
  /** Between one answer and a client's next request (keeps a 2-core machine from saturating). */
  pauseMs?: number
  /** A request not answered by then is recorded as unanswered (status 0) and abandoned. */
  answerWithinMs?: number
}

export function startLoad(options: LoadOptions): Load {
  const shots: Shot[] = []
  let running = true
  const pauseMs = options.pauseMs ?? 40
  const answerWithinMs = options.answerWithinMs ?? 20_000

  const shoot = async (client: LoadClient, spec: ShotSpec): Promise<Shot> => {
    const method = spec.method ?? 'GET'
    const shot: Shot = {
      client: client.name,
      kind: spec.kind,
      method,
      path: spec.path,
      startedAt: options.timeline.now(),
      endedAt: 0,
      status: 0,
    }
    if (spec.marker !== undefined) shot.marker = spec.marker
    try {
      const response = await request(`${options.url}${spec.path}`, {
        method: method as 'GET',
        dispatcher: options.dispatcher,
        signal: AbortSignal.timeout(answerWithinMs),
        headers: {
          authorization: client.authorization,
          ...(spec.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...spec.headers,
        },
        ...(spec.body !== undefined ? { body: spec.body } : {}),
      })
      const text = await response.body.text()
      shot.status = response.statusCode
      const cacheStatus = response.headers['cache-status']
      if (typeof cacheStatus === 'string') shot.cacheStatus = cacheStatus
      shot.securityHeaders =
        response.headers['strict-transport-security'] !== undefined &&
        response.headers['content-security-policy'] !== undefined
      if (response.headers['ratelimit-remaining'] !== undefined) {
        shot.rateLimitRemaining = Number(response.headers['ratelimit-remaining'])
      }
      if (String(response.headers['content-type']).startsWith('application/problem+json')) {
        shot.problemType = String((JSON.parse(text) as { type?: string }).type)
      }
    } catch (error) {
      shot.error =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${answerWithinMs} ms`
          : `${(error as { code?: string }).code ?? ''} ${(error as Error).message}`
    }
    shot.endedAt = options.timeline.now()
    shots.push(shot)
    return shot
  }

  const loops = options.clients.map(async client => {
    for (let index = 0; running; index++) {
      await shoot(client, client.next(index))
      await new Promise(resolve => setTimeout(resolve, pauseMs))
    }
  })

  return {
    shots,
    async stop() {
      running = false
      await Promise.all(loops)
      return shots
    },
  }
}

/** Answers to requests that started at or after `from` and ended by `to` (timeline milliseconds). */
export const shotsBetween = (shots: Shot[], from: number, to = Infinity): Shot[] =>
  shots.filter(shot => shot.startedAt >= from && shot.endedAt <= to)

/** What a Cache-Status says, without the cache's name and the remaining lifetime. */
export const cacheOutcome = (shot: Shot): string =>
  shot.cacheStatus?.replace(/^Gatehouse; /, '').replace(/; ttl=-?\d+/, '') ?? '-'

/** Counts answers by kind, status and cache outcome: `get-cached 200 hit: 41`. */
export function tally(shots: Shot[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const shot of shots) {
    const key = `${shot.kind} ${shot.status === 0 ? `no answer (${shot.error})` : shot.status} ${cacheOutcome(shot)}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)))
}

/** The longest time any of `shots` waited for its answer. */
export const slowestMs = (shots: Shot[]): number => Math.max(0, ...shots.map(shot => shot.endedAt - shot.startedAt))

/** The shot that waited longest, to name in a message. */
export const slowestShot = (shots: Shot[]): Shot | undefined =>
  shots.reduce<Shot | undefined>(
    (slowest, shot) =>
      slowest === undefined || shot.endedAt - shot.startedAt > slowest.endedAt - slowest.startedAt ? shot : slowest,
    undefined,
  )

/** Waits until `probe` holds (polling every 50 ms), then marks it on the timeline; fails after `timeoutMs`. */
export async function markWhen(
  timeline: Timeline,
  name: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`"${name}" did not happen within ${timeoutMs} ms\n${timeline.describe()}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return timeline.mark(name)
}
