// Caddy-style local HTTPS: on first start, a private CA and a certificate for the local host names signed
// by it, kept in DATA_DIR/tls. Later starts reuse them; the leaf is reissued well before it expires.
// The CA key is written once, readable only by its owner, and never leaves that folder: trust the CA
// certificate (ca.crt) once, and every leaf it signs is trusted.
import type * as X509 from '@peculiar/x509'
import { webcrypto, X509Certificate, createPrivateKey, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'

// @peculiar/x509 (and the Reflect polyfill its container needs) is loaded only when a certificate is made: a
// proxy that reuses its certificates, or serves its own, keeps ~10 MB of heap it would otherwise never use.
let x509Module: Promise<typeof X509> | undefined
function loadX509(): Promise<typeof X509> {
  x509Module ??= import('reflect-metadata').then(async () => {
    const x509 = await import('@peculiar/x509')
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
    return x509
  })
  return x509Module
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY_MS = 86_400_000
export const CA_LIFETIME_DAYS = 3650
export const LEAF_LIFETIME_DAYS = 30
/** Reissue the leaf once less than this much of its life is left. */
export const LEAF_RENEW_BEFORE_DAYS = 10

export interface TlsMaterial {
  key: string
  cert: string
}

export interface LocalCertificate extends TlsMaterial {
  caCertPath: string
  notAfter: Date
  /** What happened on this call, for the start-up message. */
  outcome: 'created-ca' | 'issued-leaf' | 'reused'
}

async function toPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key))
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END PRIVATE KEY-----\n`
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' })
  return webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign'])
}

const serial = (): string => `01${randomBytes(15).toString('hex')}` // positive, 16 bytes

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 })
  chmodSync(path, 0o600)
}

async function createCa(dir: string, now: Date): Promise<void> {
  const x509 = await loadX509()
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Gatehouse Local CA ${randomBytes(4).toString('hex')}, O=Gatehouse development`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_LIFETIME_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  writeSecret(join(dir, 'ca.key'), await toPem(keys.privateKey))
  writeFileSync(join(dir, 'ca.crt'), cert.toString('pem') + '\n')
}

async function issueLeaf(dir: string, hostnames: string[], now: Date): Promise<void> {
  const x509 = await loadX509()
  const caCert = new x509.X509Certificate(readFileSync(join(dir, 'ca.crt'), 'utf8'))
  const caKey = await importKey(readFileSync(join(dir, 'ca.key'), 'utf8'))
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
  const names = hostnames.map(name => ({ type: isIP(name) === 0 ? 'dns' : 'ip', value: name }) as X509.JsonGeneralName)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${hostnames[0] ?? 'localhost'}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + LEAF_LIFETIME_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  })
  writeSecret(join(dir, 'leaf.key'), await toPem(keys.privateKey))
  writeFileSync(join(dir, 'leaf.crt'), cert.toString('pem') + '\n')
}

function leafNeedsIssuing(dir: string, hostnames: string[], now: Date): boolean {
  if (!existsSync(join(dir, 'leaf.crt')) || !existsSync(join(dir, 'leaf.key'))) return true
  const leaf = new X509Certificate(readFileSync(join(dir, 'leaf.crt')))
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')))
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return true // the CA was replaced
  if (new Date(leaf.validTo).getTime() - now.getTime() < LEAF_RENEW_BEFORE_DAYS * DAY_MS) return true
  return hostnames.some(name => (isIP(name) === 0 ? leaf.checkHost(name) : leaf.checkIP(name)) === undefined)
}

/** Makes sure a valid CA and leaf exist in `dir`, creating or reissuing what is missing or due. */
export async function ensureLocalCertificate(
  dir: string,
  hostnames: string[],
  now = new Date(),
): Promise<LocalCertificate> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  let outcome: LocalCertificate['outcome'] = 'reused'
  if (!existsSync(join(dir, 'ca.crt')) || !existsSync(join(dir, 'ca.key'))) {
    await createCa(dir, now)
    outcome = 'created-ca'
  }
  if (leafNeedsIssuing(dir, hostnames, now)) {
    await issueLeaf(dir, hostnames, now)
    if (outcome === 'reused') outcome = 'issued-leaf'
  }
  const cert = readFileSync(join(dir, 'leaf.crt'), 'utf8')
  return {
    key: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    // The chain a client needs: the leaf, then the CA that signed it.
    cert: cert + readFileSync(join(dir, 'ca.crt'), 'utf8'),
    caCertPath: join(dir, 'ca.crt'),
    notAfter: new Date(new X509Certificate(cert).validTo),
    outcome,
  }
}

/** How to make this machine's tools trust the local CA. */
export function trustInstructions(caCertPath: string, httpsPort = 8443): string {
  return [
    `Local HTTPS certificates are signed by the Gatehouse development CA at ${caCertPath}.`,
    'Trust it once:',
    `  curl:              curl --cacert ${caCertPath} https://localhost:${httpsPort}/health`,
    `  Node.js:           NODE_EXTRA_CA_CERTS=${caCertPath}`,
    `  Debian/Ubuntu:     sudo cp ${caCertPath} /usr/local/share/ca-certificates/gatehouse-dev.crt && sudo update-ca-certificates`,
    `  macOS:             sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${caCertPath}`,
    '  Firefox/Chromium:  Settings → Certificates → Authorities → Import',
  ].join('\n')
}
