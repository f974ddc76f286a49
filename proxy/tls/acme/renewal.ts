// When to renew a certificate and how long to wait after a failed attempt: pure arithmetic, so the
// scheduler's decisions can be tested without a clock.

/** Renewal is due once two thirds of the lifetime have passed (Let's Encrypt's 90 days: at day 60), as Caddy does. */
export function renewalDue(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3)
}

export interface RetryPolicy {
  baseMs: number
  maxMs: number
}

/** The first retry after a minute, doubling up to six hours: a CA that is down is not hammered. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 60_000, maxMs: 6 * 3_600_000 }

/**
 * The wait before retry number `attempt` (0 for the first): exponential, capped, with "equal jitter" (half
 * fixed, half random) so proxies that failed together do not retry together.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
