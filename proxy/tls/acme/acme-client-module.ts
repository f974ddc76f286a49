// acme-client, with axios and @peculiar/x509 behind it, is ~10 MB of heap: it is loaded on the first ACME operation,
// so a proxy that never orders a certificate (its own cert, the local CA) never carries it.
import type * as AcmeClient from 'acme-client'

export type Acme = typeof AcmeClient

let loading: Promise<Acme> | undefined

export function loadAcmeClient(): Promise<Acme> {
  // A CommonJS module: its exports object is the default export, typed by TypeScript as the namespace it declares.
  loading ??= import('acme-client').then(module => module.default as unknown as Acme)
  return loading
}
