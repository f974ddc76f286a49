// Orders certificates from an ACME CA with acme-client: the account key (made once, kept in storage), one
// ECDSA P-256 key per certificate, the challenges in the configured order of preference.
// @see https://github.com/publishlab/node-acme-client
import { Agent } from 'node:https'
import { rootCertificates } from 'node:tls'
import type { Client } from 'acme-client'
import type { FastifyBaseLogger } from 'fastify'
import type { AcmeChallenge } from '../../config.ts'
import type { TlsMaterial } from '../local-ca.ts'
import { loadAcmeClient, type Acme } from './acme-client-module.ts'
import type { AcmeChallengeRef, Challenges } from './challenges.ts'
import type { AcmeStorage } from './storage.ts'

export interface Issuer {
  obtain(names: string[]): Promise<TlsMaterial>
}

export interface AcmeIssuerOptions {
  directoryUrl: string
  email: string
  caCert: string | undefined
  challenges: AcmeChallenge[]
  storage: AcmeStorage
  responders: Challenges
  log: FastifyBaseLogger
  /** How often acme-client polls an order or authorization that is still pending. */
  pollMs?: number
}

/** certmagic's layout: one folder per CA, so an account or certificate of staging is never used with production. */
export function issuerKey(directoryUrl: string): string {
  const url = new URL(directoryUrl)
  return `${url.host}${url.pathname}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/-+$/, '')
}

export class AcmeIssuer implements Issuer {
  private client: Client | undefined
  private readonly prefix: string

  private configured: Promise<Acme> | undefined

  private readonly options: AcmeIssuerOptions
  constructor(options: AcmeIssuerOptions) {
    this.options = options
    this.prefix = issuerKey(options.directoryUrl)
  }

  /** acme-client, loaded on the first order and set up for this issuer. */
  private acme(): Promise<Acme> {
    this.configured ??= loadAcmeClient().then(acme => {
      const { options } = this
      // acme-client has one HTTP client for the process: a private CA's root is added to it once, beside the usual
      // ones.
      if (options.caCert !== undefined) {
        acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, options.caCert] })
      }
      acme.setLogger(message => options.log.debug({ acme: message }, 'acme-client'))
      // Its own retries wait 5 s, 10 s… per request and would hide an unreachable CA for minutes: one quick retry
      // for a blip, then the order fails and the manager's backoff (with jitter, visible in logs and metrics) takes
      // over.
      type RetrySettings = { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } }
      const settings = (acme.axios.defaults as unknown as RetrySettings).acmeSettings
      settings.retryMaxAttempts = 1
      settings.retryDefaultDelay = 1
      acme.axios.defaults.timeout = 30_000
      return acme
    })
    return this.configured
  }

  private async account(): Promise<Client> {
    if (this.client !== undefined) return this.client
    const acme = await this.acme()
    const { storage } = this.options
    const keyName = `${this.prefix}/account.key`
    let accountKey = await storage.get(keyName)
    if (accountKey === undefined) {
      // Under the lock: two proxies starting together must not make two accounts.
      const release = await storage.lock(`${this.prefix}-account`)
      try {
        accountKey = await storage.get(keyName)
        if (accountKey === undefined) {
          accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString()
          await storage.put(keyName, accountKey)
        }
      } finally {
        await release()
      }
    }
    const pollMs = this.options.pollMs ?? 1000
    this.client = new acme.Client({
      directoryUrl: this.options.directoryUrl,
      accountKey,
      backoffMin: pollMs,
      backoffMax: 10 * pollMs,
      backoffAttempts: 12,
    })
    return this.client
  }

  async obtain(names: string[]): Promise<TlsMaterial> {
    const client = await this.account()
    const acme = await this.acme()
    const key = await acme.crypto.createPrivateEcdsaKey()
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, key)
    const { responders } = this.options
    // After a failure the account is looked up again on the next order (same key, so the same account at a CA
    // that still has it): a CA that lost it (a reset test CA, a wiped staging) gets it registered anew.
    const cert = await this.autoOrder(client, csr, responders).catch((error: unknown) => {
      this.client = undefined
      throw error
    })
    return { key: key.toString(), cert }
  }

  private async autoOrder(client: Client, csr: Buffer, responders: Challenges): Promise<string> {
    return await client.auto({
      csr,
      email: this.options.email,
      termsOfServiceAgreed: true,
      challengePriority: this.options.challenges,
      // No self-check: it would fetch the challenge through DNS and the network as the CA does, which behind
      // NAT or split DNS fails when the CA's view succeeds (Caddy does not self-check either).
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) =>
        responders.present(authz, challenge as AcmeChallengeRef, keyAuthorization),
      challengeRemoveFn: async (authz, challenge) => responders.remove(authz, challenge as AcmeChallengeRef),
    })
  }

  /** Where this CA's certificates are kept in the storage. */
  certificateKey(name: string): string {
    return `${this.prefix}/certificates/${name}.pem`
  }
}
