// The answers to ACME challenges in flight: HTTP-01 key authorizations by token (served on the HTTP port)
// and TLS-ALPN-01 certificates by host name (served on the HTTPS port to `acme-tls/1` handshakes). Kept in
// this process, and in shared storage too when there is one, since the CA may reach any proxy.
import type { Authorization } from 'acme-client'
import type { TlsMaterial } from '../local-ca.ts'
import { loadAcmeClient } from './acme-client-module.ts'
import type { AcmeStorage } from './storage.ts'

export type ChallengeKind = 'http-01' | 'tls-alpn-01'

/** One change to the answers, as the cluster primary forwards it to its workers. */
export interface ChallengeChange {
  kind: ChallengeKind
  id: string
  answer: string | undefined
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/

/** What of an ACME challenge the answers need. */
export interface AcmeChallengeRef {
  type: string
  token: string
}

export class Challenges {
  private readonly answers = { 'http-01': new Map<string, string>(), 'tls-alpn-01': new Map<string, string>() }
  private readonly listeners = new Set<(change: ChallengeChange) => void>()

  private readonly storage?: AcmeStorage
  constructor(storage?: AcmeStorage) {
    this.storage = storage
  }

  /** acme-client's challengeCreateFn: makes the answer available before the CA is told to look. */
  async present(authz: Authorization, challenge: AcmeChallengeRef, keyAuthorization: string): Promise<void> {
    if (challenge.type === 'http-01') await this.put('http-01', challenge.token, keyAuthorization)
    else if (challenge.type === 'tls-alpn-01') {
      const acme = await loadAcmeClient()
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization)
      const answer = JSON.stringify({ key: key.toString(), cert: cert.toString() })
      await this.put('tls-alpn-01', authz.identifier.value.toLowerCase(), answer)
    } else throw new Error(`challenge ${challenge.type} is not answered here`)
  }

  /** acme-client's challengeRemoveFn. */
  async remove(authz: Authorization, challenge: AcmeChallengeRef): Promise<void> {
    if (challenge.type === 'http-01') await this.put('http-01', challenge.token, undefined)
    else if (challenge.type === 'tls-alpn-01') {
      await this.put('tls-alpn-01', authz.identifier.value.toLowerCase(), undefined)
    }
  }

  /** Applies a change made elsewhere (a cluster worker receiving the primary's). */
  apply(change: ChallengeChange): void {
    if (change.answer === undefined) this.answers[change.kind].delete(change.id)
    else this.answers[change.kind].set(change.id, change.answer)
  }

  onChange(listener: (change: ChallengeChange) => void): void {
    this.listeners.add(listener)
  }

  async httpAnswer(token: string): Promise<string | undefined> {
    if (!TOKEN.test(token)) return undefined
    return await this.lookup('http-01', token)
  }

  async alpnCertificate(host: string): Promise<TlsMaterial | undefined> {
    const found = await this.lookup('tls-alpn-01', host.toLowerCase())
    return found === undefined ? undefined : (JSON.parse(found) as TlsMaterial)
  }

  private async put(kind: ChallengeKind, id: string, answer: string | undefined): Promise<void> {
    const change = { kind, id, answer }
    this.apply(change)
    for (const listener of this.listeners) listener(change)
    if (this.storage?.shared !== true) return
    if (answer === undefined) await this.storage.delete(`challenges/${kind}/${id}`)
    else await this.storage.put(`challenges/${kind}/${id}`, answer)
  }

  private async lookup(kind: ChallengeKind, id: string): Promise<string | undefined> {
    const local = this.answers[kind].get(id)
    if (local !== undefined || this.storage?.shared !== true) return local
    // Another proxy may have placed the order: its answer is in the shared store.
    return await this.storage.get(`challenges/${kind}/${id}`).catch(() => undefined)
  }
}
