// The certificates this process serves by SNI name: ACME's (configured names and on-demand ones), each as a
// ready secure context. A name not in the book gets the default certificate (the local CA's or the files').
import { X509Certificate } from 'node:crypto'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { TlsMaterial } from '../local-ca.ts'
import { TLS_OPTIONS } from '../tls-options.ts'

export interface BookEntry {
  material: TlsMaterial
  context: SecureContext
  notBefore: Date
  notAfter: Date
}

export function validity(cert: string): { notBefore: Date; notAfter: Date } {
  const leaf = new X509Certificate(cert)
  return { notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) }
}

export class CertificateBook {
  private readonly entries = new Map<string, BookEntry>()
  private readonly listeners = new Set<(name: string, material: TlsMaterial | undefined) => void>()

  /** Serves `material` for `name` from the next handshake on; open connections keep theirs. */
  set(name: string, material: TlsMaterial): BookEntry {
    const context = createSecureContext({ ...TLS_OPTIONS, key: material.key, cert: material.cert })
    const entry = { material, context, ...validity(material.cert) }
    this.entries.set(name, entry)
    for (const listener of this.listeners) listener(name, material)
    return entry
  }

  /** Stops serving `name` (an on-demand name no longer allowed): its handshakes go to on-demand again. */
  delete(name: string): void {
    this.entries.delete(name)
    for (const listener of this.listeners) listener(name, undefined)
  }

  get(name: string): BookEntry | undefined {
    return this.entries.get(name.toLowerCase())
  }

  names(): string[] {
    return [...this.entries.keys()]
  }

  /** Told of every certificate set, or name deleted (undefined): the cluster primary forwards them to its workers. */
  onChange(listener: (name: string, material: TlsMaterial | undefined) => void): void {
    this.listeners.add(listener)
  }
}
