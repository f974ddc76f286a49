// A certificate and its key kept as one stored record: one write, so no reader (another proxy, or this one after a
// crash between two writes) ever pairs a new key with an old chain.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import type { TlsMaterial } from '../local-ca.ts'

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g
const KEY_BLOCK = /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+?-----END ([A-Z]+ )?PRIVATE KEY-----/

/** The chain (leaf first), then the key, as PEM. */
export function toRecord(material: TlsMaterial): string {
  return `${material.cert.trim()}\n${material.key.trim()}\n`
}

/** The material in a record, or undefined when it is garbled or its key is not the leaf's: such a record is no use. */
export function fromRecord(record: string): TlsMaterial | undefined {
  const chain = record.match(CERTIFICATE_BLOCK)
  const key = KEY_BLOCK.exec(record)?.[0]
  if (chain === null || key === undefined) return undefined
  try {
    if (!new X509Certificate(chain[0]).checkPrivateKey(createPrivateKey(key))) return undefined
  } catch {
    return undefined
  }
  return { cert: `${chain.join('\n')}\n`, key: `${key}\n` }
}
