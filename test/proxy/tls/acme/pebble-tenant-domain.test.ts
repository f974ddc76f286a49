// A tenant's own domain end to end, through the real processes: the API on Postgres, the proxy as
// `npm run start:proxy` runs it with ACME against Pebble, and the operator's domain:add / domain:remove scripts.
// Added → its first handshakes order a certificate and it is served; its requests belong to its tenant; unknown
// names get no order; removed → not renewed, no longer served.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:tls'
import t from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../../../proxy/auth/htpasswd-file.ts'
import { postgresUrls, uniqueSlug } from '../../../helpers/backends.ts'
import { eventually } from '../../../helpers/edge-stack.ts'
import { servedCertificate, servesVerified, startPebble } from '../../../helpers/pebble.ts'
import { proxySetup, seriesValue } from '../../../helpers/proxy-process.ts'
import { proxyReady, spawnProxy, startApiProcess } from '../../../helpers/service-processes.ts'
import { runScript } from '../../../scripts/run-script.ts'

const urls = postgresUrls()
const skip = urls === undefined && 'needs Postgres (DATABASE_URL, DATABASE_OWNER_URL)'

/** Whether a handshake naming `servername` completes. */
async function handshakes(port: number, servername: string): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      socket.end()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

t.test(
  'a tenant domain: ordered when added, its own tenant only, unknown names refused, dropped when removed',
  { skip },
  async t => {
    const operator = { DATABASE_OWNER_URL: urls!.owner }
    const acme = uniqueSlug('acme')
    const globex = uniqueSlug('globex')
    const hostname = `shop-${randomBytes(4).toString('hex')}.acme-corp.com`
    for (const slug of [acme, globex]) {
      const added = await runScript('tenant-add', [slug], operator)
      t.equal(added.code, 0, `tenant ${slug} added ${added.stderr}`)
    }
    const domain = await runScript('tenant-domain', [acme, hostname], operator)
    t.equal(domain.code, 0, `npm run domain:add -- ${acme} ${hostname} ${domain.stderr}`)

    const api = await startApiProcess(t, { databaseUrl: urls!.app })
    const setup = await proxySetup(t, api.url)
    const password = 'tenant-password'
    const hash = await hashPassword(password, 4)
    writeFileSync(`${setup.dataDir}/htpasswd`, `ops@${acme}:${hash}\nops@${globex}:${hash}\n`)
    // Certificates live 10 s: renewal falls due about 6.7 s after issuance.
    const pebble = await startPebble(t, { httpPort: setup.ports.http, tlsPort: setup.ports.https, validitySeconds: 10 })
    const proxy = spawnProxy(t, {
      ...setup.env,
      PROXY_HOSTNAMES: 'localhost',
      ACME_EMAIL: 'ops@example.com',
      ACME_DIRECTORY_URL: pebble.directoryUrl,
      ACME_CA_CERT_FILE: pebble.caCertFile,
      TENANT_FACTS_TTL_SECONDS: '1',
    })
    await proxyReady(proxy)
    const root = await pebble.root()
    const { https } = setup.ports
    const orders = async (result: 'success' | 'failure'): Promise<number> =>
      seriesValue(await (await fetch(setup.metricsUrl)).text(), `gatehouse_proxy_acme_orders_total{result="${result}"}`)

    // 1. The first handshakes naming it order a certificate; the chain served verifies against Pebble's root.
    await eventually(
      async () => await servesVerified(https, hostname, root).catch(() => false),
      20_000,
      `a Pebble certificate for ${hostname}`,
    )
    const issued = await servedCertificate(https, hostname, root)
    t.ok(issued.authorized, "the served chain verifies against Pebble's root")
    t.equal(await orders('success'), 1, 'one order')
    t.equal(
      proxy.lines('"ACME certificate obtained"').filter(line => line.name === hostname).length,
      1,
      'the proxy logged it as obtained',
    )

    // 2. Over that certificate, requests on the tenant's domain belong to the tenant.
    const agent = new Agent({ connect: { ca: root, servername: hostname }, allowH2: false })
    t.teardown(() => agent.close())
    const basic = (slug: string): string => `Basic ${Buffer.from(`ops@${slug}:${password}`).toString('base64')}`
    // The Host a client on that name sends; the certificate checked against that name and Pebble's root.
    const onDomain = async (slug: string): Promise<{ status: number; type: string; body: any }> => {
      const response = await request(`https://127.0.0.1:${https}/api/v1/projects?limit=1`, {
        dispatcher: agent,
        headers: { host: hostname, authorization: basic(slug) },
      })
      const type = String(response.headers['content-type'])
      return { status: response.statusCode, type, body: await response.body.json() }
    }
    const own = await onDomain(acme)
    t.equal(own.status, 200, "the tenant's own login gets 200")
    t.ok(Array.isArray(own.body.data), 'with its data')
    const other = await onDomain(globex)
    t.equal(other.status, 403, "another tenant's login gets 403")
    t.match(other.type, /^application\/problem\+json/, 'as problem+json')
    t.equal(other.body.code, 'GH_EDGE_WRONG_TENANT_DOMAIN', 'naming the wrong tenant domain')

    // 3. A name no tenant owns: no handshake, no order.
    const unknown = `nobody-${randomBytes(4).toString('hex')}.example.net`
    t.notOk(await handshakes(https, unknown), 'an unknown name is refused')
    t.equal((await orders('success')) + (await orders('failure')), 1, 'and ordered nothing')

    // 4. Removed: when the certificate comes up for renewal the API says no; not renewed, no longer served.
    const removed = await runScript('tenant-domain', ['--remove', acme, hostname], operator)
    t.equal(removed.code, 0, `npm run domain:remove -- ${acme} ${hostname} ${removed.stderr}`)
    const ordersAtRemoval = await orders('success')
    await eventually(async () => !(await handshakes(https, hostname)), 20_000, `${hostname} refused`)
    t.equal(await orders('success'), ordersAtRemoval, 'not renewed')
    t.equal(await orders('failure'), 0, 'no order failed')
    t.ok(
      proxy.lines('no longer allowed').some(line => line.name === hostname),
      'and the log says why',
    )
  },
)
