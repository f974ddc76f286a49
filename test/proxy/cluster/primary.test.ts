// PROXY_WORKERS=2 as operators run it: the real proxy process, a primary with two workers in front of a
// stub API, over real TLS. Both workers serve (the log line of each request names its process), the one
// /metrics on the internal port is the sum of both, a killed worker is replaced while the other keeps
// serving, replaced certificate and htpasswd files reach every worker, and SIGTERM stops all of them with exit 0.
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { appendFileSync, renameSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { Agent, request } from 'undici'
import { hashPassword } from '../../../proxy/auth/htpasswd-file.ts'
import { ensureLocalCertificate } from '../../../proxy/tls/local-ca.ts'
import { eventually } from '../../helpers/edge-stack.ts'
import {
  alive,
  burst,
  proxySetup,
  seriesValue,
  servedBy,
  stubApi,
  type ProxySetup,
} from '../../helpers/proxy-process.ts'
import { proxyReady, spawnProxy } from '../../helpers/service-processes.ts'

t.test('two workers share the ports, sum their metrics, are replaced when they die and stop on SIGTERM', async t => {
  const setup = await proxySetup(t, await stubApi(t), { PROXY_WORKERS: '2' })
  const proxy = spawnProxy(t, setup.env)
  await proxyReady(proxy)
  const readyLine = proxy.lines().find(line => line.msg === 'gatehouse proxy ready')!
  const primaryPid = proxy.child.pid!
  t.equal(readyLine.pid, primaryPid, 'the primary says when the proxy is ready')
  const workerPids = readyLine.workers as number[]
  t.equal(new Set(workerPids).size, 2, 'two worker processes')
  t.notOk(workerPids.includes(primaryPid), 'the primary serves no request itself')
  t.match(proxy.stderr(), 'Trust it once', 'the CA is made once, by the primary, which says how to trust it')
  t.equal(proxy.lines().filter(line => line.msg === 'local certificate authority in use').length, 1)
  t.ok(
    proxy.lines().some(line => line.level === 'warn' && /no REDIS_URL/.test(String(line.msg))),
    'warns that in-memory budgets are per worker',
  )

  const first = await burst(t, setup, 'first', 24)
  await eventually(async () => servedBy(proxy.lines(), first).size === 2, 5000, 'log lines of both workers')
  t.same([...servedBy(proxy.lines(), first)].sort(), [...workerPids].sort(), 'both workers served requests')

  const scrape = async (): Promise<string> => (await request(setup.metricsUrl)).body.text()
  const metrics = await scrape()
  t.equal(
    seriesValue(metrics, 'gatehouse_proxy_requests_total{http_version="1.1",tls_version="TLSv1.3"}'),
    24,
    '/metrics counts the requests of both workers',
  )
  t.equal(
    seriesValue(metrics, `gatehouse_proxy_tenant_requests_total{tenant="${setup.tenant}",status_class="2xx"}`),
    24,
  )
  t.equal(seriesValue(metrics, 'gatehouse_proxy_workers'), 2)
  t.ok(seriesValue(metrics, 'process_resident_memory_bytes') > 0, 'process metrics, added up over the processes')
  t.equal(
    (
      await request(`${setup.baseUrl}/metrics`, {
        dispatcher: new Agent({ connect: { ca: setup.ca(), servername: 'localhost' } }),
      })
    ).statusCode,
    401,
    'not on the public port',
  )

  // A worker dies: the other keeps serving at once, and the primary forks a replacement.
  const [victim, survivor] = workerPids as [number, number]
  process.kill(victim, 'SIGKILL')
  await eventually(async () => !alive(victim), 5000, 'the worker dying')
  await burst(t, setup, 'meanwhile', 8)
  await eventually(
    async () => proxy.lines().some(line => line.msg === 'proxy worker replaced'),
    20_000,
    'a replacement worker',
  )
  t.ok(
    proxy
      .lines()
      .some(
        line =>
          line.msg === 'proxy worker died; replacing it' && line.workerPid === victim && line.signal === 'SIGKILL',
      ),
    'the death is logged',
  )
  const replacement = proxy.lines().find(line => line.msg === 'proxy worker replaced')!.workerPid as number
  t.not(replacement, victim)
  const after = await burst(t, setup, 'after', 24)
  await eventually(async () => servedBy(proxy.lines(), after).size === 2, 5000, 'log lines of both workers')
  t.same([...servedBy(proxy.lines(), after)].sort(), [survivor, replacement].sort(), 'the replacement serves too')
  t.equal(seriesValue(await scrape(), 'gatehouse_proxy_worker_restarts_total'), 1)

  proxy.child.kill('SIGTERM')
  t.equal((await proxy.exited).code, 0, 'SIGTERM: every worker drained, exit 0')
  t.notOk(alive(survivor) || alive(replacement), 'no worker left behind')
  t.equal(proxy.lines().filter(line => line.msg === 'proxy worker stopped' && line.code === 0).length, 2)
})

/**
 * One TLS 1.3 connection for a session ticket, then `count` connections one after another offering it, each
 * with one request (ids `label-0`…) so the log says which worker took it. Whether each was resumed (an
 * abbreviated handshake).
 */
async function resumed(
  setup: ProxySetup,
  ca: string,
  label: string,
  count: number,
): Promise<{ reused: boolean[]; ids: string[] }> {
  const options = {
    host: '127.0.0.1',
    port: setup.ports.https,
    servername: 'localhost',
    ca,
    minVersion: 'TLSv1.3' as const,
    ALPNProtocols: ['http/1.1'],
  }
  const ticket = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(options)
    socket.once('session', (session: Buffer) => {
      resolve(session)
      socket.end()
    })
    socket.once('error', reject)
  })
  const reused: boolean[] = []
  const ids = Array.from({ length: count }, (_, index) => `${label}-${index}`)
  for (const id of ids) {
    reused.push(
      await new Promise<boolean>((resolve, reject) => {
        const socket = connect({ ...options, session: ticket }, () => {
          const wasReused = socket.isSessionReused()
          socket.write(
            `GET /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${setup.authorization}\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`,
          )
          socket.resume()
          socket.once('close', () => resolve(wasReused))
        })
        socket.once('error', reject)
      }),
    )
  }
  return { reused, ids }
}

t.test('replaced certificate and credentials files reach every worker', async t => {
  const upstream = await stubApi(t)
  const setup = await proxySetup(t, upstream, { PROXY_WORKERS: '2' })
  const a = await ensureLocalCertificate(join(setup.dataDir, 'a'), ['localhost'])
  const b = await ensureLocalCertificate(join(setup.dataDir, 'b'), ['localhost'])
  const certFile = join(setup.dataDir, 'server.crt')
  const keyFile = join(setup.dataDir, 'server.key')
  writeFileSync(certFile, a.cert)
  writeFileSync(keyFile, a.key)
  const proxy = spawnProxy(t, { ...setup.env, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile })
  await proxyReady(proxy)

  // New connections spread over the workers: 16 reach both (all on one: 1 in 32 768), so see each one's certificate.
  const served = async (ca: string): Promise<string[]> =>
    Promise.all(
      Array.from(
        { length: 16 },
        async () =>
          new Promise<string>(resolve => {
            const socket = connect({ host: '127.0.0.1', port: setup.ports.https, servername: 'localhost', ca }, () => {
              resolve(socket.getPeerCertificate().fingerprint256)
              socket.end()
            })
            socket.once('error', () => resolve('refused'))
          }),
      ),
    )
  const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256
  t.same(new Set(await served(a.cert)), new Set([fingerprint(a.cert)]))
  const before = await resumed(setup, a.cert, 'resume-before', 16)
  await eventually(async () => servedBy(proxy.lines(), before.ids).size === 2, 5000, 'log lines of both workers')
  t.same(before.reused, Array(16).fill(true), 'a TLS session resumes on every worker, whichever issued its ticket')

  writeFileSync(`${keyFile}.new`, b.key)
  writeFileSync(`${certFile}.new`, b.cert)
  renameSync(`${keyFile}.new`, keyFile)
  renameSync(`${certFile}.new`, certFile)
  await eventually(
    async () => (await served(b.cert)).every(seen => seen === fingerprint(b.cert)),
    15_000,
    'every worker serving the new pair',
  )
  t.ok(
    proxy.lines().some(line => line.msg === 'TLS certificate reloaded' && line.role === 'primary'),
    'read and checked by the primary, which sends it on',
  )
  const after = await resumed(setup, b.cert, 'resume-after', 16)
  await eventually(async () => servedBy(proxy.lines(), after.ids).size === 2, 5000, 'log lines of both workers')
  t.same(after.reused, Array(16).fill(true), 'and still after the reload')

  // Each worker polls the htpasswd file: a new login works whichever worker a connection reaches.
  appendFileSync(join(setup.dataDir, 'htpasswd'), `carol@${setup.tenant}:${await hashPassword('carol-password', 4)}\n`)
  const asCarol = async (): Promise<number[]> => {
    const agent = new Agent({ connect: { ca: b.cert, servername: 'localhost' }, allowH2: false })
    try {
      return await Promise.all(
        Array.from({ length: 6 }, async () => {
          const response = await request(`${setup.baseUrl}/api/v1/projects`, {
            dispatcher: agent,
            headers: {
              authorization: `Basic ${Buffer.from(`carol@${setup.tenant}:carol-password`).toString('base64')}`,
            },
          })
          await response.body.dump()
          return response.statusCode
        }),
      )
    } finally {
      await agent.close()
    }
  }
  await eventually(
    async () => (await asCarol()).every(status => status === 200),
    15_000,
    'every worker accepting the new login',
  )
  t.equal(
    new Set(
      proxy
        .lines()
        .filter(line => line.msg === 'credentials loaded' && line.users === 2)
        .map(line => line.pid),
    ).size,
    2,
    'both workers re-read the file',
  )

  proxy.child.kill('SIGTERM')
  t.equal((await proxy.exited).code, 0)
})
