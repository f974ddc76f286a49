// The edge's one client for what it must learn from the API about tenants: a tenant's plan, and which tenant
// owns a hostname. Signed GETs to /internal/v1 (common/internal-channel.ts), answers checked against their
// schema and kept briefly in memory (facts-cache.ts), so the request path reads memory, not the network.
import { randomUUID } from 'node:crypto'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { Agent, type Dispatcher } from 'undici'
import { checkHostname } from '../../common/hostname.ts'
import { PlanSchema, type Plan } from '../../common/plans.ts'
import { INTERNAL_PREFIX, internalKey, signInternalRequest } from '../../common/internal-channel.ts'
import { createFactsCache } from './facts-cache.ts'

const TenantAnswer = Compile(Type.Object({ slug: Type.String(), plan: Type.Union([PlanSchema, Type.Null()]) }))
const DomainAnswer = Compile(Type.Object({ hostname: Type.String(), tenant: Type.Union([Type.String(), Type.Null()]) }))

/** The answers are a few dozen bytes: anything much larger is not one. */
const MAX_ANSWER_BYTES = 4096

export interface TenantFactsOptions {
  upstreams: URL[]
  identitySecret: string
  ttlMs: number
  maxEntries: number
  /** Per attempt: connect, headers and body. */
  timeoutMs: number
  /** Lookups of keys not in memory in flight at once (per kind). */
  maxInFlight?: number
  log: { warn(object: object, message: string): void; info(object: object, message: string): void }
  clock?: { now(): number }
}

export function createTenantFactsClient(options: TenantFactsOptions) {
  const key = internalKey(options.identitySecret)
  const agent: Dispatcher = new Agent({
    connections: 4,
    connectTimeout: options.timeoutMs,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  })
  // Rotates past an upstream that failed, so one instance down costs one failed attempt, not one per lookup.
  let first = 0
  // Once per outage, not per key: with thousands of tenants a down API would otherwise log thousands of lines a TTL.
  let failing = false
  const failed = (what: object, error: unknown): void => {
    if (!failing) {
      const message = 'could not learn tenant facts from the API; keeping what is known'
      options.log.warn({ ...what, error: (error as Error).message }, message)
    }
    failing = true
  }
  const answered = (): void => {
    if (failing) options.log.info({}, 'tenant facts: the API answers again')
    failing = false
  }

  async function getJson(path: string, signal: AbortSignal): Promise<unknown> {
    let lastError: unknown
    const start = first
    for (let attempt = 0; attempt < options.upstreams.length; attempt++) {
      const upstream = options.upstreams[(start + attempt) % options.upstreams.length]!
      try {
        const response = await agent.request({
          origin: upstream.origin,
          path,
          method: 'GET',
          signal,
          headers: signInternalRequest(key, path, `edge-${randomUUID()}`),
        })
        const length = Number(response.headers['content-length'] ?? 0)
        if (response.statusCode !== 200 || length > MAX_ANSWER_BYTES) {
          await response.body.dump()
          throw new Error(`${upstream.origin}${path} answered ${response.statusCode}`)
        }
        const text = await response.body.text()
        if (text.length > MAX_ANSWER_BYTES) throw new Error(`${upstream.origin}${path} answered ${text.length} bytes`)
        const parsed: unknown = JSON.parse(text)
        answered()
        return parsed
      } catch (error) {
        lastError = error
        first = (start + attempt + 1) % options.upstreams.length
        if (signal.aborted) break
      }
    }
    throw lastError
  }

  const common = {
    ttlMs: options.ttlMs,
    maxEntries: options.maxEntries,
    maxInFlight: options.maxInFlight ?? 32,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  }
  const plans = createFactsCache<{ plan: Plan | null }>({
    ...common,
    async load(slug, signal) {
      const answer = await getJson(`${INTERNAL_PREFIX}/tenants/${encodeURIComponent(slug)}`, signal)
      if (!TenantAnswer.Check(answer)) throw new Error('the API answered a tenant lookup in an unknown shape')
      return { plan: answer.plan }
    },
    onError: (slug, error) => failed({ tenant: slug }, error),
  })
  const owners = createFactsCache<{ tenant: string | null }>({
    ...common,
    async load(hostname, signal) {
      const answer = await getJson(`${INTERNAL_PREFIX}/domains/${encodeURIComponent(hostname)}`, signal)
      if (!DomainAnswer.Check(answer)) throw new Error('the API answered a domain lookup in an unknown shape')
      return { tenant: answer.tenant }
    },
    onError: (hostname, error) => failed({ hostname: hostname.slice(0, 253) }, error),
  })

  return {
    /** The plan stored with the tenant; null when the API knows no such tenant. Rejects only when never learnt. */
    plan: async (slug: string): Promise<Plan | null> => (await plans.get(slug)).plan,
    /** The plan in memory now (undefined: not known yet; null: no such tenant); a stale one is refreshed. */
    planNow: (slug: string): Plan | null | undefined => plans.now(slug)?.plan,
    /** The slug of the tenant owning this hostname (as a request names it), or null. Rejects only when never learnt. */
    domainOwner: async (hostname: string): Promise<string | null> => (await owners.get(hostname)).tenant,
    /** The owner in memory now (undefined: not known yet); a stale answer is refreshed in the background. */
    domainOwnerNow: (hostname: string): string | null | undefined => owners.now(hostname)?.tenant,
    /**
     * On-demand TLS's question (Caddy's `ask`): may a certificate be ordered for this name? Only for a valid
     * name a tenant owns; any doubt (an invalid name, the API unreachable, too many lookups at once) is no.
     */
    async ask(hostname: string): Promise<boolean> {
      const check = checkHostname(hostname)
      if (!check.ok) return false
      try {
        // Fresh, not stale-while-revalidate: a yes buys a certificate served and renewed for months, so a
        // domain its tenant removed must not get one more renewal from an answer older than the TTL.
        return (await owners.fresh(check.hostname)).tenant !== null
      } catch {
        return false
      }
    },
    async close(): Promise<void> {
      plans.clear()
      owners.clear()
      await agent.close()
    },
  }
}

export type TenantFactsClient = ReturnType<typeof createTenantFactsClient>
