// The Caddy-style local CA: created once in DATA_DIR/tls with a private key only its owner may read,
// reused on later starts, a leaf for the configured names signed by it, reissued before expiry or
// when the names change, never the CA itself.
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  ensureLocalCertificate,
  LEAF_LIFETIME_DAYS,
  LEAF_RENEW_BEFORE_DAYS,
  trustInstructions,
} from '../../../proxy/tls/local-ca.ts'

const DAY = 86_400_000

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'tls')
}

const leafOf = (pem: string): X509Certificate => new X509Certificate(pem)

t.test('first start creates the CA and a leaf; the next start reuses both', async t => {
  const dir = tempDir(t)
  const first = await ensureLocalCertificate(dir, ['localhost', '127.0.0.1'])
  t.equal(first.outcome, 'created-ca')
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600, 'the CA key is readable by its owner only')
  t.equal(statSync(join(dir, 'leaf.key')).mode & 0o777, 0o600)
  t.notMatch(first.cert, /PRIVATE KEY/, 'the chain carries no key')
  t.notMatch(first.key, readFileSync(join(dir, 'ca.key'), 'utf8'), 'the CA key is not the served key')

  const ca = new X509Certificate(readFileSync(first.caCertPath))
  t.ok(ca.ca, 'ca.crt is a CA certificate')
  const leaf = leafOf(first.cert)
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'the leaf is signed by the CA')
  t.equal(leaf.checkHost('localhost'), 'localhost')
  t.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1')
  t.notOk(leaf.ca)

  const second = await ensureLocalCertificate(dir, ['localhost', '127.0.0.1'])
  t.equal(second.outcome, 'reused')
  t.equal(second.cert, first.cert, 'same leaf')
  t.equal(readFileSync(second.caCertPath, 'utf8'), readFileSync(first.caCertPath, 'utf8'), 'same CA')
})

t.test('the leaf is reissued, by the same CA, once it is within the renewal margin', async t => {
  const dir = tempDir(t)
  const start = new Date('2026-01-01T00:00:00Z')
  const first = await ensureLocalCertificate(dir, ['localhost'], start)
  const caPem = readFileSync(first.caCertPath, 'utf8')

  const early = new Date(start.getTime() + (LEAF_LIFETIME_DAYS - LEAF_RENEW_BEFORE_DAYS - 1) * DAY)
  t.equal((await ensureLocalCertificate(dir, ['localhost'], early)).outcome, 'reused', 'not yet due')

  const due = new Date(start.getTime() + (LEAF_LIFETIME_DAYS - LEAF_RENEW_BEFORE_DAYS + 1) * DAY)
  const renewed = await ensureLocalCertificate(dir, ['localhost'], due)
  t.equal(renewed.outcome, 'issued-leaf')
  t.equal(readFileSync(renewed.caCertPath, 'utf8'), caPem, 'the CA stays: clients that trust it keep trusting')
  t.ok(renewed.notAfter.getTime() > first.notAfter.getTime(), 'the new leaf lives longer')
  t.ok(leafOf(renewed.cert).verify(new X509Certificate(caPem).publicKey))
  t.not(renewed.key, first.key, 'with a new key')
})

t.test('a new host name gets a new leaf that covers it', async t => {
  const dir = tempDir(t)
  await ensureLocalCertificate(dir, ['localhost'])
  const widened = await ensureLocalCertificate(dir, ['localhost', 'gatehouse.test', '::1'])
  t.equal(widened.outcome, 'issued-leaf')
  t.equal(leafOf(widened.cert).checkHost('gatehouse.test'), 'gatehouse.test')
  t.equal(leafOf(widened.cert).checkIP('::1'), '::1')
})

t.test('the trust instructions name the CA file and the port actually served', async t => {
  const text = trustInstructions('/data/tls/ca.crt', 9443)
  t.match(text, /curl --cacert \/data\/tls\/ca\.crt https:\/\/localhost:9443\/health/)
  t.match(text, /NODE_EXTRA_CA_CERTS=\/data\/tls\/ca\.crt/)
})
