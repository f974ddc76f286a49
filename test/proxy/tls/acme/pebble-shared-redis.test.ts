// Proxies sharing Redis share ACME: one of them orders a name for all (the others wait on the lock and load
// it), and the CA's challenge may reach a proxy that did not order (the answers are in Redis too).
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { eventually } from '../../../helpers/edge-stack.ts'
import { edgePorts, startAcmeEdge } from '../../../helpers/acme-edge.ts'
import { servedCertificate, servesVerified, startPebble } from '../../../helpers/pebble.ts'

const REDIS_URL = 'redis://127.0.0.1:6379'
const NAME = 'edge.example.com'

for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
  t.test(`two proxies order once, by ${challenge} answered by a third`, async t => {
    const redisPrefix = `gatehouse-test-acme-${randomBytes(4).toString('hex')}:`
    const redis = new Redis(REDIS_URL)
    t.teardown(async () => {
      const keys = await redis.keys(`${redisPrefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    })
    // The CA validates at `answering`, which manages no public name: only Redis can give it the answers.
    const validated = await edgePorts()
    const pebble = await startPebble(t, { httpPort: validated.http, tlsPort: validated.https })
    const shared = { REDIS_URL, ACME_CHALLENGES: challenge }
    await startAcmeEdge(t, pebble, { ports: validated, redisPrefix, env: { ...shared, PROXY_HOSTNAMES: 'localhost' } })
    const [a, b] = await Promise.all([
      startAcmeEdge(t, pebble, { ports: await edgePorts(), redisPrefix, env: shared }),
      startAcmeEdge(t, pebble, { ports: await edgePorts(), redisPrefix, env: shared }),
    ])
    const root = await pebble.root()
    for (const edge of [a, b]) {
      await eventually(async () => await servesVerified(edge.ports.https, NAME, root), 20_000, 'a Pebble certificate')
    }
    const [servedA, servedB] = await Promise.all([a, b].map(edge => servedCertificate(edge.ports.https, NAME, root)))
    t.equal(servedA!.fingerprint, servedB!.fingerprint, 'both serve the same certificate')
    t.equal((await a.orders('success')) + (await b.orders('success')), 1, 'ordered once between them')
    t.equal((await a.orders('failure')) + (await b.orders('failure')), 0, 'no failed order')
    const stored = await redis.keys(`${redisPrefix}*`)
    const has = (suffix: string): boolean => stored.some(key => key.endsWith(suffix))
    t.ok(
      has('/account.key') && has('/certificates/edge.example.com.pem'),
      'the account key and the certificate are in Redis',
    )
    t.notOk(
      stored.some(key => /^(locks|challenges)\//.test(key.slice(redisPrefix.length))),
      'no lock or challenge left behind',
    )
  })
}
