// What every target shares: one certificate (made by our local CA, as the proxy makes its own) and the same
// bcrypt logins, so the TLS handshake and the password check cost each server the same to begin with.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hashPassword } from '../proxy/auth/htpasswd-file.ts'
import { ensureLocalCertificate } from '../proxy/tls/local-ca.ts'
import { READ_TENANT, WRITE_TENANT } from './database.ts'

export interface Login {
  login: string
  user: string
  tenant: string
  password: string
}

export const READER: Login = {
  login: `alice@${READ_TENANT}`,
  user: 'alice',
  tenant: READ_TENANT,
  password: 'alice-bench-password',
}
export const WRITER: Login = {
  login: `bob@${WRITE_TENANT}`,
  user: 'bob',
  tenant: WRITE_TENANT,
  password: 'bob-bench-password',
}
export const LOGINS = [READER, WRITER]

export const basicAuthorization = (login: Login): string =>
  `Basic ${Buffer.from(`${login.login}:${login.password}`).toString('base64')}`

export interface Htpasswd {
  file: string
  cost: number
  hashes: Map<string, string>
}

export interface SharedCredentials {
  /** Leaf then CA, PEM: what each server presents. */
  certChainFile: string
  keyFile: string
  /** The local CA alone: what the bench's own probes trust. */
  caCert: string
  htpasswd: Htpasswd
  lowCostHtpasswd: Htpasswd
}

async function writeHtpasswd(file: string, cost: number): Promise<Htpasswd> {
  const hashes = new Map<string, string>()
  // $2y$ as Apache's htpasswd -B writes it: our proxy, nginx (libxcrypt's crypt(3)) and Caddy (Go's bcrypt) all read
  // it.
  for (const login of LOGINS) hashes.set(login.login, await hashPassword(login.password, cost))
  writeFileSync(file, [...hashes].map(([login, hash]) => `${login}:${hash}`).join('\n') + '\n', { mode: 0o644 })
  return { file, cost, hashes }
}

/**
 * The same logins as salted SHA-1 (`{SSHA}`, which nginx's auth_basic_user_file reads): one SHA-1 per check. nginx has
 * no verification cache; this stands in for one in the edge-overhead section, where the others check bcrypt once.
 */
export function writeSshaHtpasswd(file: string): Htpasswd {
  const hashes = new Map<string, string>()
  for (const login of LOGINS) {
    const salt = randomBytes(8)
    const digest = createHash('sha1').update(login.password).update(salt).digest()
    hashes.set(login.login, `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`)
  }
  writeFileSync(file, [...hashes].map(([login, hash]) => `${login}:${hash}`).join('\n') + '\n', { mode: 0o644 })
  // Not bcrypt: cost 0 says so wherever a row label shows the cost.
  return { file, cost: 0, hashes }
}

export async function makeSharedCredentials(dir: string, cost: number, lowCost: number): Promise<SharedCredentials> {
  const tls = await ensureLocalCertificate(join(dir, 'tls'), ['localhost', '127.0.0.1'])
  const certChainFile = join(dir, 'tls', 'chain.pem')
  writeFileSync(certChainFile, tls.cert)
  return {
    certChainFile,
    keyFile: join(dir, 'tls', 'leaf.key'),
    caCert: readFileSync(tls.caCertPath, 'utf8'),
    htpasswd: await writeHtpasswd(join(dir, `htpasswd-cost-${cost}`), cost),
    lowCostHtpasswd: await writeHtpasswd(join(dir, `htpasswd-cost-${lowCost}`), lowCost),
  }
}
