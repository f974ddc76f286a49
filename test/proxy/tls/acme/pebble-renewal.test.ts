// Renewal against a real ACME CA (Pebble issuing certificates that live seconds): a certificate is replaced at
// two thirds of its life; while the CA is down the certificate in use keeps serving (even past its end) and
// orders are retried with backoff until the CA is back.
import t from 'tap'
import { eventually } from '../../../helpers/edge-stack.ts'
import { edgePorts, startAcmeEdge } from '../../../helpers/acme-edge.ts'
import { servedCertificate, servesVerified, startPebble } from '../../../helpers/pebble.ts'

const NAME = 'edge.example.com'

t.test('renews at two thirds of the lifetime', async t => {
  const ports = await edgePorts()
  const pebble = await startPebble(t, { httpPort: ports.http, tlsPort: ports.https, validitySeconds: 6 })
  const edge = await startAcmeEdge(t, pebble, { ports })
  const root = await pebble.root()
  await eventually(async () => await servesVerified(ports.https, NAME, root), 20_000, 'the first certificate')
  const first = await servedCertificate(ports.https, NAME, root)
  const firstEnds = new Date(first.validTo).getTime()

  const renewedYet = async (): Promise<boolean> =>
    (await servedCertificate(ports.https, NAME, root)).fingerprint !== first.fingerprint
  await eventually(renewedYet, 15_000, 'a renewed certificate')
  const renewedAt = Date.now()
  const renewed = await servedCertificate(ports.https, NAME, root)
  t.ok(renewed.authorized, 'the renewed chain verifies')
  t.ok(renewedAt < firstEnds, 'renewed before the first one expired')
  t.ok((await edge.orders('success')) >= 2, 'a second order')
  t.equal(await edge.orders('failure'), 0, 'and none failed')
})

t.test('keeps serving while the CA is down, and recovers when it returns', async t => {
  const ports = await edgePorts()
  const pebble = await startPebble(t, { httpPort: ports.http, tlsPort: ports.https, validitySeconds: 6 })
  const edge = await startAcmeEdge(t, pebble, { ports, retry: { baseMs: 400, maxMs: 1600 } })
  const firstRoot = await pebble.root()
  await eventually(async () => await servesVerified(ports.https, NAME, firstRoot), 20_000, 'the first certificate')
  const first = await servedCertificate(ports.https, NAME, firstRoot)
  await pebble.stop()

  // Renewal falls due at 4 s, fails, and is retried; the certificate ends at 6 s and is still the one served.
  await eventually(async () => (await edge.orders('failure')) >= 2, 15_000, 'failed renewals, retried')
  t.equal(
    (await servedCertificate(ports.https, NAME)).fingerprint,
    first.fingerprint,
    'the certificate in use is still served',
  )
  await eventually(
    async () => Date.now() > new Date(first.validTo).getTime() + 1000,
    10_000,
    'the first certificate expired',
  )
  t.equal(
    (await servedCertificate(ports.https, NAME)).fingerprint,
    first.fingerprint,
    'even past its end, rather than none',
  )
  const failure = 'ACME certificate not obtained; retrying later'
  t.ok(
    edge.logs.some(
      line => line.msg === failure && line.serving === 'the previous certificate' && typeof line.retryInMs === 'number',
    ),
    'each failure is logged with its retry delay',
  )

  await pebble.start()
  const secondRoot = await pebble.root()
  await eventually(
    async () => await servesVerified(ports.https, NAME, secondRoot),
    15_000,
    'a certificate from the returned CA',
  )
  t.pass('a new certificate from the CA once it is back')
})
