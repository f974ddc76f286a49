// The proxy process as it runs (proxy/main.ts) with ACME and a cluster of two workers: the primary orders once
// (after the workers listen, since the CA validates against their ports), the workers answer the challenge and
// serve the certificate it relays, and /metrics shows the outcome and the time left.
import t from 'tap'
import { eventually } from '../../../helpers/edge-stack.ts'
import { proxySetup, seriesValue, stubApi } from '../../../helpers/proxy-process.ts'
import { servedCertificate, servesVerified, startPebble } from '../../../helpers/pebble.ts'
import { proxyReady, spawnProxy } from '../../../helpers/service-processes.ts'

t.test('the cluster primary orders, its workers serve', async t => {
  const setup = await proxySetup(t, await stubApi(t))
  const pebble = await startPebble(t, { httpPort: setup.ports.http, tlsPort: setup.ports.https })
  const proxy = spawnProxy(t, {
    ...setup.env,
    PROXY_WORKERS: '2',
    PROXY_HOSTNAMES: 'localhost,edge.example.com',
    ACME_EMAIL: 'ops@example.com',
    ACME_DIRECTORY_URL: pebble.directoryUrl,
    ACME_CA_CERT_FILE: pebble.caCertFile,
  })
  await proxyReady(proxy)
  const root = await pebble.root()
  const { https } = setup.ports
  await eventually(async () => await servesVerified(https, 'edge.example.com', root), 20_000, 'a Pebble certificate')
  // New connections spread over the workers: 16 reach both (all on one: 1 in 32 768), and each serves it.
  const served = await Promise.all(Array.from({ length: 16 }, () => servedCertificate(https, 'edge.example.com', root)))
  t.ok(
    served.every(one => one.authorized),
    "every handshake, on either worker, verifies against Pebble's root",
  )

  const metrics = await (await fetch(setup.metricsUrl)).text()
  t.equal(seriesValue(metrics, 'gatehouse_proxy_acme_orders_total{result="success"}'), 1, 'one order, by the primary')
  t.equal(seriesValue(metrics, 'gatehouse_proxy_acme_orders_total{result="failure"}'), 0, 'none failed')
  t.ok(
    seriesValue(metrics, 'gatehouse_proxy_certificate_expiry_seconds{name="edge.example.com"}') > 86_400,
    'the time left is on /metrics',
  )
  const answeredBy = new Set(proxy.lines('/.well-known/acme-challenge/').map(line => line.worker))
  t.ok(answeredBy.size >= 1 && !answeredBy.has(undefined), 'the challenge was answered by workers')
  t.equal(
    proxy.lines('"role":"primary"').filter(line => line.msg === 'ACME certificate obtained').length,
    1,
    'the primary logged the order',
  )
})
