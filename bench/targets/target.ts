// What the bench needs of each server under test, and what they all share.
import type { BenchDatabase } from '../database.ts'
import { basicAuthorization, type SharedCredentials } from '../credentials.ts'
import type { Scenario } from '../scenarios.ts'
import type { BenchSettings, ServerId } from '../settings.ts'
import { signIdentity } from '../../common/identity-signature.ts'

export interface BenchContext {
  /** Temporary folder for configs, logs and caches; removed at the end. */
  dir: string
  /** The compiled API and proxy (dist/ of a tsc build), run as plain node as in production. */
  buildDir: string
  identitySecret: string
  credentials: SharedCredentials
  apiOrigin: string
  database: BenchDatabase
  scenarios: Scenario[]
  settings: BenchSettings
  /** How long an identity signature is accepted: each run must finish within it. */
  identityMaxAgeSeconds: number
}

/** What starting a proxy target needs: no database (the edge-overhead section has none; its upstream is apiOrigin). */
export type TargetContext = Omit<BenchContext, 'database'>

export interface Target {
  id: ServerId
  /** Row label in the tables. */
  label: string
  /** Who serves requests, for the fairness column: processes, workers, threads. */
  workers: string
  /** Where wrk connects (scheme, host and port). */
  origin: string
  /** Where its processes write warnings and errors: reported after the runs when not empty. */
  logFiles: string[]
  /** Process trees whose peak memory is this target's. */
  rootPids(): number[]
  /** Why this target cannot do the scenario as specified; undefined when it can. */
  notApplicable(scenario: Scenario): string | undefined
  /** Whether it sends the edge's security headers (checked by every probe when it does). */
  securityHeaders: boolean
  /** Parts of the edge's work this target leaves out in every scenario (shown in the table's notes). */
  omissions: string[]
  /**
   * Just before each run: fresh identity signatures where they are static. Returns headers to send besides the
   * scenario's.
   */
  prepare(scenario: Scenario): Promise<Record<string, string>>
  /** Response headers a repeated probe must carry (e.g. a cache hit), checked before each run. */
  expectedHeaders(scenario: Scenario): Record<string, RegExp>
  stop(): Promise<void>
}

/**
 * nginx and Caddy cannot compute the HMAC our API demands. The signature covers tenant, user, request id,
 * method, URL, a timestamp and the body's digest; every scenario sends one fixed body, so the bench signs exactly
 * the requests of its scenarios and hands the servers a table from "login method url" to a signature and a
 * Content-Digest ('' without a body, which both servers then leave out), rewritten before every run.
 */
export interface SignedRequest {
  key: string
  tenant: string
  user: string
  timestamp: string
  signature: string
  contentDigest: string
}

export function signScenarioRequests(secret: string, scenarios: Scenario[], requestId: string): SignedRequest[] {
  const signed = new Map<string, SignedRequest>()
  for (const scenario of scenarios) {
    if (scenario.login === undefined) continue
    const { login } = scenario
    const headers = signIdentity(secret, {
      tenant: login.tenant,
      user: login.user,
      requestId,
      method: scenario.method,
      url: scenario.url,
      body: scenario.body,
    })
    const key = `${login.login} ${scenario.method} ${scenario.url}`
    if (signed.has(key) && signed.get(key)!.contentDigest !== (headers['content-digest'] ?? '')) {
      throw new Error(`scenarios share "${key}" with different bodies: one signature table entry cannot cover both`)
    }
    signed.set(key, {
      key,
      tenant: login.tenant,
      user: login.user,
      timestamp: headers['x-gatehouse-timestamp']!,
      signature: headers['x-gatehouse-signature']!,
      contentDigest: headers['content-digest'] ?? '',
    })
  }
  return [...signed.values()]
}

/** What a client of the edge sends to be let in: basic credentials, when the scenario has a login. */
export function edgeCredentials(scenario: Scenario): Record<string, string> {
  return scenario.login !== undefined ? { authorization: basicAuthorization(scenario.login) } : {}
}
