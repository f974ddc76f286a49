// Where the HTTPS server's certificate comes from, and how it stays current without a restart:
// configured files are re-read when they change (a renewed certificate from certbot or an orchestrator
// is picked up within seconds); the local CA's leaf is reissued before it expires.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import type { SecureContextOptions } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import type { ProxyConfig } from '../config.ts'
import { ensureLocalCertificate, type TlsMaterial } from './local-ca.ts'

export interface CertificateSource {
  initial: TlsMaterial
  /** A message for the operator on start (e.g. how to trust the local CA), if any. */
  notice: string | undefined
  /** Starts watching; `apply` receives each new valid pair, `fail` each rejected one. */
  watch(apply: (material: TlsMaterial) => void, fail: (error: Error) => void): void
  close(): void
}

/** Refuses a certificate that does not belong to the key, or that has expired. */
export function readCertificatePair(certFile: string, keyFile: string, now = new Date()): TlsMaterial {
  const cert = readFileSync(certFile, 'utf8')
  const key = readFileSync(keyFile, 'utf8')
  const leaf = new X509Certificate(cert)
  const publicOfKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' })
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(publicOfKey)) {
    throw new Error(`${certFile} does not match the private key in ${keyFile}`)
  }
  if (new Date(leaf.validTo) < now) throw new Error(`${certFile} expired on ${leaf.validTo}`)
  return { cert, key }
}

const RENEWAL_CHECK_MS = 6 * 3_600_000

export async function openCertificateSource(
  tls: ProxyConfig['tls'],
  { pollMs = 1000 } = {},
): Promise<CertificateSource> {
  if (tls.kind === 'files') {
    const initial = readCertificatePair(tls.certFile, tls.keyFile)
    let listener: (() => void) | undefined
    return {
      initial,
      notice: undefined,
      watch(apply, fail) {
        listener = () => {
          try {
            apply(readCertificatePair(tls.certFile, tls.keyFile))
          } catch (error) {
            fail(error as Error) // keep serving the previous pair
          }
        }
        watchFile(tls.certFile, { interval: pollMs, persistent: false }, listener)
        watchFile(tls.keyFile, { interval: pollMs, persistent: false }, listener)
      },
      close() {
        if (listener === undefined) return
        unwatchFile(tls.certFile, listener)
        unwatchFile(tls.keyFile, listener)
      },
    }
  }

  const local = await ensureLocalCertificate(tls.dir, tls.hostnames)
  let timer: NodeJS.Timeout | undefined
  return {
    initial: local,
    notice: local.outcome === 'created-ca' ? 'created' : 'reused',
    watch(apply, fail) {
      timer = setInterval(() => {
        ensureLocalCertificate(tls.dir, tls.hostnames).then(renewed => {
          if (renewed.outcome !== 'reused') apply(renewed)
        }, fail)
      }, RENEWAL_CHECK_MS)
      timer.unref()
    },
    close() {
      clearInterval(timer)
    },
  }
}

/**
 * Starts `source`'s watch and swaps each new pair into the running server (new handshakes use it,
 * open connections keep theirs); a rejected pair is logged and the previous one stays in use.
 */
export function keepCertificateCurrent(
  source: CertificateSource,
  server: { setSecureContext(options: SecureContextOptions): void; getTicketKeys(): Buffer },
  tlsOptions: SecureContextOptions,
  log: FastifyBaseLogger,
): void {
  source.watch(
    material => {
      // A new secure context draws new session ticket keys unless given the current ones: every ticket out
      // there (and, in a cluster, the keys all workers share) would stop resuming at each reload.
      server.setSecureContext({
        ...tlsOptions,
        key: material.key,
        cert: material.cert,
        ticketKeys: server.getTicketKeys(),
      })
      log.info('TLS certificate reloaded')
    },
    error => log.error({ err: error }, 'new TLS certificate rejected; still serving the previous one'),
  )
}
