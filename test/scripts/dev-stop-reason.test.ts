// What npm run dev says, and exits with, when one of its processes stops (scripts/dev/stop-reason.ts).
import { createServer } from 'node:net'
import t from 'tap'
import { exitStatus, stopReason } from '../../scripts/dev/stop-reason.ts'

const PORTS = { PORT: '3000', PROXY_HTTPS_PORT: '8443', PROXY_HTTP_PORT: '8080', PROXY_METRICS_PORT: '9464' }

t.test('exit status: the code, or 128 + the signal as a shell reports it', async t => {
  t.equal(exitStatus({ code: 78, signal: null }), 78)
  t.equal(exitStatus({ code: null, signal: 'SIGKILL' }), 137)
  t.equal(exitStatus({ code: null, signal: 'SIGINT' }), 130)
})

t.test('a bad setting: each bad variable, as the process named it', async t => {
  const lines = [
    'gatehouse proxy: Invalid configuration:',
    '  - PROXY_HTTPS_PORT: must be integer (got "abc")',
    '  - LOG_LEVEL: must be one of info, debug',
  ]
  t.equal(
    stopReason('proxy', { code: 78, signal: null, lines }, PORTS),
    'proxy stopped (exit 78): bad setting PROXY_HTTPS_PORT: must be integer (got "abc"); ' +
      'LOG_LEVEL: must be one of info, debug. Fix the variable and start again.',
  )
})

t.test('a port in use: the port, the variable that moves it, and the process holding it', async t => {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  // As the proxy logs it: the port is in the message (and in err.port, left out here to read the message).
  const message = `listen EADDRINUSE: address already in use 127.0.0.1:${port}`
  const error = { level: 50, msg: 'shutting down after an unexpected error', err: { code: 'EADDRINUSE', message } }
  const ports = { ...PORTS, PROXY_HTTPS_PORT: String(port) }
  const reason = stopReason('proxy', { code: 1, signal: null, lines: [JSON.stringify(error)] }, ports)
  t.match(reason, `proxy stopped (exit 1): port ${port} (PROXY_HTTPS_PORT) is already in use `)
  t.match(reason, `by process ${process.pid} (`, 'and by what')
  t.match(reason, `e.g. PROXY_HTTPS_PORT=${port + 1} npm run dev.`)

  const lines = ['listen EADDRINUSE: address already in use :::1']
  const unknown = stopReason('api', { code: 1, signal: null, lines }, PORTS)
  t.match(unknown, 'port 1 is already in use', 'a port dev did not set: no variable to name')
})

t.test('the embedded database held: by which process, and what to do', async t => {
  const line =
    'gatehouse api: cannot start: The embedded database in .data/pglite is open in process ' +
    `${process.pid}. PGlite allows one process at a time: stop that process first.`
  const reason = stopReason('api', { code: 1, signal: null, lines: [line] }, PORTS)
  t.match(reason, `the embedded database in .data/pglite is held by process ${process.pid} (node `)
  t.match(reason, `(kill ${process.pid}) or give dev another DATA_DIR.`)
})

t.test('anything else: its last logged error, or its last line', async t => {
  const fatal = JSON.stringify({ level: 60, msg: 'cannot listen', err: { message: 'EACCES' } })
  const exited = (lines: string[]): string => stopReason('api', { code: 1, signal: null, lines }, PORTS)
  t.equal(exited([fatal, '{"level":30,"msg":"bye"}']), 'api stopped (exit 1): cannot listen: EACCES')
  t.equal(
    exited(['TypeError: x is not a function', '    at main.ts:3']),
    'api stopped (exit 1): TypeError: x is not a function',
  )
  t.equal(
    stopReason('api', { code: null, signal: 'SIGKILL', lines: [] }, PORTS),
    'api stopped (killed by SIGKILL): see its output above.',
  )
})
