// A configured certificate and key: used instead of the local CA, refused with a clear error when they
// do not belong together, and — while the proxy runs — replaced by new files without a restart,
// while a bad replacement is refused and the previous pair keeps serving.
import { X509Certificate } from 'node:crypto'
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import t, { type Test } from 'tap'
import { buildProxyApp } from '../../../proxy/app.ts'
import { TLS_OPTIONS } from '../../../proxy/tls/tls-options.ts'
import { loadProxyConfig } from '../../../proxy/config.ts'
import {
  keepCertificateCurrent,
  openCertificateSource,
  readCertificatePair,
} from '../../../proxy/tls/certificate-source.ts'
import { ensureLocalCertificate, type LocalCertificate } from '../../../proxy/tls/local-ca.ts'
import { TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'
import { eventually } from '../../helpers/edge-stack.ts'
import type { Http2SecureServer } from 'node:http2'

/** Two unrelated pairs, each from its own CA, as files an operator would configure. */
async function setUp(
  t: Test,
): Promise<{ dir: string; a: LocalCertificate; b: LocalCertificate; certFile: string; keyFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-certs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const a = await ensureLocalCertificate(join(dir, 'a'), ['localhost'])
  const b = await ensureLocalCertificate(join(dir, 'b'), ['localhost'])
  const certFile = join(dir, 'server.crt')
  const keyFile = join(dir, 'server.key')
  writeFileSync(certFile, a.cert)
  writeFileSync(keyFile, a.key)
  return { dir, a, b, certFile, keyFile }
}

/** The fingerprint of the certificate the server presents, verified against `ca`. */
async function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.once('error', reject)
  })
}

const fingerprintOf = (material: LocalCertificate): string => new X509Certificate(material.cert).fingerprint256

t.test('a mismatched certificate and key are refused with an error naming both files', async t => {
  const { a, b, certFile, keyFile } = await setUp(t)
  writeFileSync(keyFile, b.key)
  t.throws(() => readCertificatePair(certFile, keyFile), {
    message: `${certFile} does not match the private key in ${keyFile}`,
  })
  await t.rejects(openCertificateSource({ kind: 'files', certFile, keyFile }), /does not match the private key/)
  writeFileSync(keyFile, a.key)
  t.equal(readCertificatePair(certFile, keyFile).cert, a.cert)
  t.throws(() => readCertificatePair(certFile, keyFile, new Date(Date.now() + 400 * 86_400_000)), /expired/)
})

t.test('configured files are served, and replacing them is picked up without a restart', async t => {
  const { a, b, certFile, keyFile, dir } = await setUp(t)
  const config = loadProxyConfig({
    DATA_DIR: dir,
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
    IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    LOG_LEVEL: 'silent',
  })
  t.equal(config.tls.kind, 'files')
  const source = await openCertificateSource(config.tls, { pollMs: 50 })
  t.teardown(() => source.close())
  const logs: Array<{ msg: string }> = []
  const app = await buildProxyApp(config, {
    tls: source.initial,
    logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line)) } },
  })
  keepCertificateCurrent(source, app.server as unknown as Http2SecureServer, TLS_OPTIONS, app.log)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port

  t.equal(await servedFingerprint(port, a.cert), fingerprintOf(a), 'the configured pair, not a local CA')
  const server = app.server as unknown as Http2SecureServer
  const ticketKeys = server.getTicketKeys()

  // A broken replacement (new certificate, old key) is refused; the old pair keeps serving. The files are polled
  // every 50 ms: the 10 s bounds only leave room for a loaded machine (3 s timed out once under load 9).
  writeFileSync(certFile, b.cert)
  await eventually(
    async () => logs.some(line => line.msg.startsWith('new TLS certificate rejected')),
    10_000,
    'the mismatch being reported',
  )
  t.equal(await servedFingerprint(port, a.cert), fingerprintOf(a))

  // Completed by the matching key (renamed into place, as certbot and orchestrators do).
  copyFileSync(join(dir, 'b', 'leaf.key'), `${keyFile}.new`)
  renameSync(`${keyFile}.new`, keyFile)
  await eventually(
    async () =>
      servedFingerprint(port, b.cert).then(
        () => true,
        () => false,
      ),
    10_000,
    'the new pair being served',
  )
  t.equal(await servedFingerprint(port, b.cert), fingerprintOf(b))
  await t.rejects(servedFingerprint(port, a.cert), 'a client trusting only the old CA no longer verifies')
  t.ok(
    server.getTicketKeys().equals(ticketKeys),
    'the session ticket keys survive the reload (tickets already issued still resume)',
  )
})
