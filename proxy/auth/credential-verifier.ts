// bcrypt is deliberately slow (~50 ms at cost 10; bcryptjs yields to the event loop between rounds): verifying it on
// every request would cap the proxy at a few dozen requests per second per core. Successful verifications are
// remembered briefly, keyed by a salted hash of the credentials (the plain password is never kept), and only while the
// user's hash in the file is the one that verified — so a changed password or a removed user stops working as soon as
// the file is re-read, and at the latest when the entry expires.
import { hash, randomBytes } from 'node:crypto'
import { compare } from 'bcryptjs'
import { LRUCache } from 'lru-cache'
import type { HtpasswdEntry, HtpasswdStore } from './htpasswd.ts'

// A valid hash of a random password: checking unknown users against it costs the same as a real check,
// so response time does not reveal which logins exist.
const DECOY_HASH = '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.DhV8qH7jmX9c6Zb/5sN1q0P7Gk1W'

export interface VerifierOptions {
  cacheTtlMs: number
  maxCachedLogins?: number
}

export function createCredentialVerifier(store: HtpasswdStore, options: VerifierOptions) {
  const salt = randomBytes(32).toString('base64')
  const verified = new LRUCache<string, string>({
    max: options.maxCachedLogins ?? 10_000,
    ttl: Math.max(options.cacheTtlMs, 1),
  })
  // One-shot hash of one string: a Hash object with four updates per request was ~2.5 % of a cache hit's CPU. Only
  // logins of the file can be served from the cache, and none holds \0: the separator keeps login and password apart.
  const keyOf = (login: string, password: string): string => hash('sha256', `${salt}${login}\0${password}`, 'base64url')

  // One bcrypt check at a time per credentials and hash: when a busy login's cache entry expires, every request
  // in flight for it would otherwise run its own check at once — 32 connections meant 32 checks on one event
  // loop and every one of them answered after more than 2 s (npm run bench, once per AUTH_CACHE_TTL_SECONDS).
  const checking = new Map<string, Promise<boolean>>()
  const bcryptCheck = (key: string, password: string, against: string): Promise<boolean> => {
    const flight = `${key} ${against}`
    let pending = checking.get(flight)
    if (pending === undefined) {
      pending = compare(password, against)
        .catch(() => false)
        .finally(() => checking.delete(flight))
      checking.set(flight, pending)
    }
    return pending
  }

  const cached = (entry: HtpasswdEntry, key: string): boolean =>
    options.cacheTtlMs > 0 && verified.get(key) === entry.hash

  return {
    /** The user's entry when these credentials verified recently and the file still holds that hash: no bcrypt. */
    cachedEntry(login: string, password: string): HtpasswdEntry | undefined {
      const entry = store.get(login)
      return entry !== undefined && cached(entry, keyOf(login, password)) ? entry : undefined
    },
    /** The salted hash the credentials are known by: a key for work about them that must not hold the password. */
    credentialKey: keyOf,
    /** The user's entry when the password is right, otherwise undefined. */
    async verify(login: string, password: string): Promise<HtpasswdEntry | undefined> {
      const entry = store.get(login)
      const key = keyOf(login, password)
      if (entry !== undefined && cached(entry, key)) return entry
      const ok = await bcryptCheck(key, password, entry?.hash ?? DECOY_HASH)
      if (entry === undefined || !ok) return undefined
      if (options.cacheTtlMs > 0) verified.set(key, entry.hash)
      return entry
    },
    get cachedLogins(): number {
      return verified.size
    },
  }
}

export type CredentialVerifier = ReturnType<typeof createCredentialVerifier>
