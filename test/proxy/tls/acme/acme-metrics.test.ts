// What ACME puts on the edge's /metrics: seconds left per managed name (the CertificateExpiringSoon alert reads
// it), and order outcomes, on a passed clock.
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import promClient from 'prom-client'
import t from 'tap'
import { createAcmeMetrics } from '../../../../proxy/tls/acme/acme-metrics.ts'
import { CertificateBook } from '../../../../proxy/tls/acme/certificate-book.ts'
import { ensureLocalCertificate } from '../../../../proxy/tls/local-ca.ts'

t.test('expiry seconds per name, and orders by result', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-metrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const material = await ensureLocalCertificate(dir, ['edge.example.com'])
  const notAfter = new Date(new X509Certificate(material.cert).validTo).getTime()
  const book = new CertificateBook()
  book.set('edge.example.com', material)
  const registry = new promClient.Registry()
  const metrics = createAcmeMetrics(registry, book, () => notAfter - 13 * 86_400_000)
  metrics.orders.inc({ result: 'success' })
  metrics.orders.inc({ result: 'failure' })
  const text = await registry.metrics()
  t.match(
    text,
    /gatehouse_proxy_certificate_expiry_seconds\{name="edge.example.com"\} 1123200\n/,
    '13 days left, in seconds',
  )
  t.match(text, /gatehouse_proxy_acme_orders_total\{result="success"\} 1\n/)
  t.match(text, /gatehouse_proxy_acme_orders_total\{result="failure"\} 1\n/)
})
