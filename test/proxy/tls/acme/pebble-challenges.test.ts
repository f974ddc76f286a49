// Certificates for the edge's configured public name from a real ACME CA (Pebble), by each challenge: the
// local CA's certificate serves the name until the real one arrives, then the served chain verifies
// against Pebble's root; local names keep the local CA.
import t from 'tap'
import { eventually } from '../../../helpers/edge-stack.ts'
import { edgePorts, startAcmeEdge } from '../../../helpers/acme-edge.ts'
import { servedCertificate, servesVerified, startPebble } from '../../../helpers/pebble.ts'

for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
  t.test(`obtains and serves a certificate by ${challenge}`, async t => {
    const ports = await edgePorts()
    const pebble = await startPebble(t, { httpPort: ports.http, tlsPort: ports.https })
    const edge = await startAcmeEdge(t, pebble, { ports, env: { ACME_CHALLENGES: challenge } })
    const root = await pebble.root()

    await eventually(
      async () => await servesVerified(ports.https, 'edge.example.com', root),
      20_000,
      'a Pebble certificate served',
    )
    const served = await servedCertificate(ports.https, 'edge.example.com', root)
    t.ok(
      served.authorized,
      `the chain verifies against Pebble's root for edge.example.com (${served.authorizationError ?? 'ok'})`,
    )
    t.match(served.issuer, /Pebble Intermediate CA/, 'issued by Pebble')
    t.ok(
      edge.logs.some(line => String(line.acme).includes(`selected type: ${challenge}`)),
      `the order was validated by ${challenge}`,
    )
    t.equal(await edge.orders('success'), 1, 'one order')
    t.equal(await edge.orders('failure'), 0, 'no failed order')
    const untilArrival = /serving the default \(local CA\) certificate/
    t.ok(
      edge.logs.some(line => line.name === 'edge.example.com' && untilArrival.test(String(line.msg))),
      'the log says the local CA serves the name until the real certificate arrives',
    )
    t.ok(
      edge.logs.some(line => line.msg === 'ACME certificate obtained' && line.name === 'edge.example.com'),
      'and says when it arrived',
    )

    const local = await servedCertificate(ports.https, 'localhost')
    t.match(local.issuer, /Gatehouse Local CA/, 'localhost keeps the local CA')
    t.notOk((await servedCertificate(ports.https, 'localhost', root)).authorized, 'which Pebble did not sign')
    if (challenge === 'http-01') {
      const redirect = await fetch(`http://127.0.0.1:${ports.http}/.well-known/acme-challenge/unknown-token`, {
        redirect: 'manual',
      })
      t.equal(redirect.status, 308, 'a token nobody answers is redirected like any path')
    }
  })
}
