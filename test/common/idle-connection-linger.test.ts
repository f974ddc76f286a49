// lingerIdleConnections on a real HTTP server: a keep-alive connection that is idle when close() is called
// (its next request sent, not yet read) is not cut off at once, as Node's own close() would: the request is
// answered, with Connection: close, and the connection closes after.
import { createServer } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { lingerIdleConnections } from '../../common/idle-connection-linger.ts'

t.test('a request sent just before close(), still unread, is answered rather than reset', async t => {
  const server = createServer((request, response) => {
    // While closing, every answer closes its connection (as both processes do).
    if (!server.listening) response.setHeader('connection', 'close')
    response.end(`answered ${request.url}`)
  })
  lingerIdleConnections(server, 100)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
  })
  const { port } = server.address() as { port: number }

  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    received += chunk
  })
  socket.on('error', () => {})
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  await new Promise<void>(resolve => socket.once('connect', resolve))
  socket.write('GET /first HTTP/1.1\r\nHost: test\r\n\r\n')
  while (!received.includes('answered /first')) await new Promise(resolve => setTimeout(resolve, 5))

  socket.write('GET /second HTTP/1.1\r\nHost: test\r\n\r\n') // in the server's socket buffer, unread, when close() runs
  server.close()
  await closed
  t.match(
    received,
    /answered \/second/,
    "the request that was waiting is answered, not reset (Node's close() alone resets it)",
  )
  t.match(received.slice(received.lastIndexOf('HTTP/1.1')), /connection: close/i, 'with Connection: close')
})
