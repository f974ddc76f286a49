// How the workers share the public ports (proxy/cluster/port-sharing.ts). By default on Linux each worker has a
// socket of its own and the kernel spreads connections (or, shared, all accept from one): with the primary frozen,
// new TLS connections are still served, by both workers, where with PROXY_PORT_SHARING=primary none is. And
// SO_REUSEPORT must not let a second proxy quietly share a running proxy's ports.
import { connect } from 'node:tls'
import t from 'tap'
import { ConfigError } from '../../../common/env-config.ts'
import { resolvePortSharing, workerListenOptions } from '../../../proxy/cluster/port-sharing.ts'
import { eventually } from '../../helpers/edge-stack.ts'
import { burst, proxySetup, servedBy, stubApi, type ProxySetup } from '../../helpers/proxy-process.ts'
import { proxyReady, spawnProxy } from '../../helpers/service-processes.ts'

t.test('auto is the kernel on Linux only; kernel elsewhere is a setting error', async t => {
  const cases: Array<[Parameters<typeof resolvePortSharing>[0], NodeJS.Platform, string]> = [
    ['auto', 'linux', 'kernel'],
    ['auto', 'darwin', 'primary'],
    ['auto', 'win32', 'primary'],
    ['primary', 'linux', 'primary'],
    ['kernel', 'linux', 'kernel'],
    ['shared', 'linux', 'shared'],
    ['shared', 'darwin', 'shared'],
  ]
  for (const [setting, platform, expected] of cases) {
    t.equal(resolvePortSharing(setting, platform), expected, `${setting} on ${platform}`)
  }
  t.throws(() => resolvePortSharing('kernel', 'darwin'), ConfigError)
  t.throws(() => resolvePortSharing('kernel', 'darwin'), /- PROXY_PORT_SHARING: "kernel" needs Linux's SO_REUSEPORT/)
})

t.test("a worker's listen options: its own socket in the port's group, except on port 0", async t => {
  t.same(workerListenOptions('kernel', 8443), { reusePort: true, exclusive: true })
  t.same(workerListenOptions('kernel', 0), {}, "port 0: the primary's one socket, so every worker has the same port")
  t.same(workerListenOptions('primary', 8443), {})
  t.same(workerListenOptions('shared', 8443), {}, "shared: the primary's one socket, accepted from by every worker")
})

/** Whether a new TLS connection completes its handshake within `withinMs`. */
const handshakes = (setup: ProxySetup, withinMs: number): Promise<boolean> =>
  new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port: setup.ports.https, servername: 'localhost', ca: setup.ca() })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(false)
    }, withinMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      socket.end()
      resolve(true)
    })
    socket.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
  })

for (const sharing of ['kernel', 'shared'] as const) {
  t.test(`${sharing}: with the primary frozen, both workers still take new TLS connections`, async t => {
    const env = { PROXY_WORKERS: '2', ...(sharing === 'shared' ? { PROXY_PORT_SHARING: 'shared' } : {}) }
    const setup = await proxySetup(t, await stubApi(t), env)
    const proxy = spawnProxy(t, setup.env)
    await proxyReady(proxy)
    const ready = proxy.lines().find(line => line.msg === 'gatehouse proxy ready')!
    t.equal(
      ready.portSharing,
      sharing,
      sharing === 'kernel' ? 'the default on Linux, said in the ready line' : 'as set',
    )
    const primary = proxy.child.pid!

    process.kill(primary, 'SIGSTOP')
    t.teardown(() => {
      if (proxy.alive()) process.kill(primary, 'SIGCONT')
    })
    // undici opens a connection per concurrent request: 24 new TLS connections (kernel: hashed over the two
    // sockets, all on one 1 in 8 million).
    const ids = await burst(t, setup, 'primary-frozen', 24)
    await eventually(async () => servedBy(proxy.lines(), ids).size === 2, 5000, 'log lines of both workers')
    t.same([...servedBy(proxy.lines(), ids)].sort(), [...(ready.workers as number[])].sort(), 'both workers served')

    process.kill(primary, 'SIGCONT')
    proxy.child.kill('SIGTERM')
    t.equal((await proxy.exited).code, 0)
  })
}

t.test('primary: node:cluster hands over every connection, so a frozen primary stalls new ones', async t => {
  const setup = await proxySetup(t, await stubApi(t), { PROXY_WORKERS: '2', PROXY_PORT_SHARING: 'primary' })
  const proxy = spawnProxy(t, setup.env)
  await proxyReady(proxy)
  t.equal(proxy.lines().find(line => line.msg === 'gatehouse proxy ready')!.portSharing, 'primary')
  t.ok(await handshakes(setup, 5000), 'served while the primary runs')
  const primary = proxy.child.pid!
  process.kill(primary, 'SIGSTOP')
  t.teardown(() => {
    if (proxy.alive()) process.kill(primary, 'SIGCONT')
  })
  t.notOk(await handshakes(setup, 1500), 'no handshake while it is frozen')
  process.kill(primary, 'SIGCONT')
  t.ok(await handshakes(setup, 5000), 'served again once it runs')
  proxy.child.kill('SIGTERM')
  t.equal((await proxy.exited).code, 0)
})

t.test("a second proxy on a running proxy's ports fails to start; the first keeps them all", async t => {
  const setup = await proxySetup(t, await stubApi(t), { PROXY_WORKERS: '2' })
  const first = spawnProxy(t, setup.env)
  await proxyReady(first)
  const workers = first.lines().find(line => line.msg === 'gatehouse proxy ready')!.workers as number[]

  // Same user, same ports, SO_REUSEPORT too: the kernel would let its workers join. The primary's check does not.
  const second = spawnProxy(t, { ...setup.env, PROXY_METRICS_PORT: '0' })
  t.equal((await second.exited).code, 1, 'exit 1')
  const fatal = second.lines().find(line => line.msg === 'the proxy could not start')
  t.match(fatal?.err, { code: 'EADDRINUSE', message: `127.0.0.1:${setup.ports.https}` }, 'naming the port')
  t.notOk(
    second.lines().some(line => line.msg === 'proxy worker ready'),
    'no worker of it ever listened',
  )

  const ids = await burst(t, setup, 'after-second', 24)
  await eventually(async () => servedBy(first.lines(), ids).size === 2, 5000, 'log lines of both workers')
  t.same([...servedBy(first.lines(), ids)].sort(), [...workers].sort(), "every connection reached the first's workers")
  first.child.kill('SIGTERM')
  t.equal((await first.exited).code, 0)
})
