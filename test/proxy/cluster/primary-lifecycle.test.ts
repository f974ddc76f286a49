// The cluster's life at its edges: Ctrl-C (SIGINT to the primary and every worker at once) is still one
// clean drain that finishes the requests in flight; workers do not outlive a primary killed outright; a bad
// PROXY_WORKERS stops the proxy before it forks (exit 78); a port in use ends the start instead of restarting workers
// forever, however the workers share the ports.
import { createServer } from 'node:net'
import t from 'tap'
import { eventually, startHttpStub } from '../../helpers/edge-stack.ts'
import { alive, burst, proxySetup, stubApi } from '../../helpers/proxy-process.ts'
import { proxyReady, spawnProxy } from '../../helpers/service-processes.ts'

t.test('Ctrl-C reaches the primary and every worker at once: one clean drain, exit 0', async t => {
  // Answers after 1.5 s: requests are still in flight while the workers drain.
  let received = 0
  const api = await startHttpStub(t, (_request, response) => {
    received++
    setTimeout(
      () =>
        response
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end('{"slow":true}'),
      1500,
    )
  })
  const setup = await proxySetup(t, api, { PROXY_WORKERS: '2' })
  const proxy = spawnProxy(t, setup.env, { detached: true })
  await proxyReady(proxy)
  const workerPids = proxy.lines().find(line => line.msg === 'gatehouse proxy ready')!.workers as number[]
  const answers = burst(t, setup, 'in-flight', 6)
  await eventually(async () => received === 6, 10_000, 'the requests reaching the API')

  process.kill(-proxy.child.pid!, 'SIGINT') // the whole process group, as a terminal does
  // The primary's request to drain may reach a worker before or after the signal; and the signal may come
  // again: none of it may count as a worker's second signal (close-with-grace would exit 1).
  await eventually(
    async () => proxy.lines().filter(line => line.msg === 'shutting down: finishing in-flight requests').length === 2,
    10_000,
    'both workers draining',
  )
  for (const pid of workerPids) process.kill(pid, 'SIGINT')
  await answers // all 200 (burst checks)
  t.equal((await proxy.exited).code, 0)
  t.same(
    proxy
      .lines()
      .filter(line => line.msg === 'proxy worker stopped')
      .map(line => line.code),
    [0, 0],
    'every worker drained and exited 0',
  )
  t.notOk(workerPids.some(alive))
})

t.test('the primary killed outright: its workers drain and leave rather than linger', async t => {
  const setup = await proxySetup(t, await stubApi(t), { PROXY_WORKERS: '2' })
  const proxy = spawnProxy(t, setup.env)
  await proxyReady(proxy)
  const workerPids = proxy.lines().find(line => line.msg === 'gatehouse proxy ready')!.workers as number[]
  proxy.child.kill('SIGKILL')
  await eventually(async () => !workerPids.some(alive), 15_000, 'the workers leaving')
  t.pass('no worker left behind')
})

t.test('a bad PROXY_WORKERS stops the proxy before any fork: exit 78 naming the setting', async t => {
  const setup = await proxySetup(t, 'http://127.0.0.1:9')
  const proxy = spawnProxy(t, { ...setup.env, PROXY_WORKERS: 'many' }) // other bad values: test/proxy/config.test.ts
  t.equal((await proxy.exited).code, 78)
  t.match(proxy.stderr(), /PROXY_WORKERS: a whole number from 1 to \d+, or "auto"/)
  t.equal(proxy.lines().length, 0, 'nothing started')
})

// A squatter without SO_REUSEPORT: the primary's check finds it before any fork (kernel), or the workers cannot
// listen (primary). Either way the start ends, naming the port, and no worker is restarted.
for (const sharing of ['kernel', 'primary'] as const) {
  t.test(
    `a port in use (PROXY_PORT_SHARING=${sharing}): the primary gives up instead of restarting workers`,
    async t => {
      const setup = await proxySetup(t, 'http://127.0.0.1:9', { PROXY_WORKERS: '2', PROXY_PORT_SHARING: sharing })
      const squatter = createServer()
      await new Promise<void>(resolve => squatter.listen(setup.ports.https, '127.0.0.1', resolve))
      t.teardown(() => squatter.close())
      const proxy = spawnProxy(t, setup.env)
      const code = (await proxy.exited).code
      t.not(code, 0, 'a failed start is not a clean exit')
      const gaveUp =
        sharing === 'kernel' ? 'the proxy could not start' : 'a proxy worker exited before the proxy was ready'
      t.ok(proxy.lines().some(line => line.msg === gaveUp))
      t.ok(
        proxy.lines().some(line => (line.err as { code?: string } | undefined)?.code === 'EADDRINUSE'),
        'the reason is logged: EADDRINUSE',
      )
      t.match(proxy.lines('EADDRINUSE')[0]?.err, { message: `127.0.0.1:${setup.ports.https}` }, 'naming the port')
      t.notOk(
        proxy.lines().some(line => line.msg === 'proxy worker died; replacing it'),
        'no restarts of a worker that cannot start',
      )
      if (sharing === 'kernel') {
        t.notOk(
          proxy.lines().some(line => line.msg === 'proxy worker ready'),
          'checked before any worker listened',
        )
      }
    },
  )
}
