// The HTTPS port's certificate choice, per handshake: a TLS-ALPN-01 challenge certificate for the CA's
// `acme-tls/1` handshakes, the book's certificate for a name it has, the default one for local and configured
// names, and for any other public name on-demand TLS (a certificate if the gate allows it, else no handshake).
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import type { CertificateBook } from './certificate-book.ts'
import type { Challenges } from './challenges.ts'
import { qualifiesForPublicCertificate } from './name-policy.ts'
import { TLS_OPTIONS } from '../tls-options.ts'

export const ACME_TLS_ALPN = 'acme-tls/1'

export interface SniOptions {
  book: CertificateBook
  challenges: Challenges
  /** Names the default certificate covers (PROXY_HOSTNAMES): served it until their ACME certificate arrives. */
  configured: string[]
  /** Whether TLS-ALPN-01 is answered (ACME_CHALLENGES). */
  tlsAlpn: boolean
  /** On-demand TLS: resolves true once the book has a certificate for the name. */
  onDemand(name: string): Promise<boolean>
}

type SniCallback = (error: Error | null, context?: SecureContext) => void

export interface SniSelection {
  SNICallback(this: TLSSocket, servername: string, callback: SniCallback): void
  ALPNCallback?(this: TLSSocket, offer: { servername: string; protocols: string[] }): string | undefined
}

export function sniSelection(options: SniOptions): SniSelection {
  const { book, challenges } = options
  const configured = new Set(options.configured.map(name => name.toLowerCase()))
  // Sockets whose client asked for acme-tls/1. In TLS 1.3 OpenSSL settles ALPN before it asks for the
  // certificate, so the ALPN callback marks the socket and the SNI callback, which runs next, sees it.
  // (In TLS 1.2 the order is reversed; CAs validate over TLS 1.3 when the server offers it, as this one does.)
  const challengeSockets = new WeakSet<TLSSocket>()

  async function challengeContext(name: string): Promise<SecureContext> {
    const material = await challenges.alpnCertificate(name)
    if (material === undefined) throw new Error(`no TLS-ALPN-01 challenge in flight for ${name}`)
    return createSecureContext({ ...TLS_OPTIONS, key: material.key, cert: material.cert })
  }

  // A public name nobody configured: only a name the gate allows gets a certificate, and a handshake.
  async function onDemandContext(name: string): Promise<SecureContext | undefined> {
    if (await options.onDemand(name)) return book.get(name)?.context
    throw new Error(`no certificate for ${name}`)
  }

  return {
    SNICallback(servername, callback) {
      const name = servername.toLowerCase().replace(/\.$/, '')
      const answer = (pending: Promise<SecureContext | undefined>): void => {
        pending.then(
          context => callback(null, context),
          (error: Error) => callback(error),
        )
      }
      if (challengeSockets.has(this)) return answer(challengeContext(name))
      // Every handshake but a challenge's or a new on-demand name's is answered at once, without a promise.
      const entry = book.get(name)
      if (entry !== undefined) return callback(null, entry.context)
      if (configured.has(name) || !qualifiesForPublicCertificate(name)) return callback(null) // the default one
      answer(onDemandContext(name))
    },
    ...(options.tlsAlpn
      ? {
          ALPNCallback({ servername, protocols }) {
            if (protocols.includes(ACME_TLS_ALPN) && servername !== undefined) {
              challengeSockets.add(this)
              return ACME_TLS_ALPN
            }
            // What the HTTP/2 server offers on its own (h2, then HTTP/1.1); anything else is refused, as RFC 7301 says.
            return protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined
          },
        }
      : {}),
  }
}

/**
 * A TLS-ALPN-01 validation ends with its handshake (RFC 8737 §3): the connection is closed before the HTTP/2
 * server would open a session on it and write its SETTINGS.
 */
type SecureServer = { prependListener(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown }

export function closeChallengeConnections(server: SecureServer): void {
  server.prependListener('secureConnection', socket => {
    if (socket.alpnProtocol === ACME_TLS_ALPN) socket.destroy()
  })
}
