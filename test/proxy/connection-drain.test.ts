// Draining over real TLS sockets, the HTTP/1.1 side: a keep-alive connection idle when the drain begins is
// not cut off at once — a request its client sends right then is answered, with Connection: close — and the
// drain still ends once that connection has gone. (The whole process under load, HTTP/2 included:
// test/drills/proxy-sigterm.test.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createSecureServer } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type TLSSocket } from 'node:tls'
import t from 'tap'
import { trackConnections } from '../../proxy/connection-drain.ts'
import { ensureLocalCertificate } from '../../proxy/tls/local-ca.ts'

/** Collects what arrives on the socket until it closes, or until `until` matches. */
function reader(socket: TLSSocket) {
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    received += chunk
  })
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  return {
    closed,
    text: () => received,
    async until(pattern: RegExp): Promise<string> {
      while (!pattern.test(received)) {
        await Promise.race([new Promise(resolve => socket.once('data', resolve)), closed])
        if (socket.destroyed && !pattern.test(received)) {
          throw new Error(`closed before ${pattern}: ${JSON.stringify(received)}`)
        }
      }
      return received
    },
  }
}

t.test(
  'a keep-alive connection idle at the start of the drain still has its next request answered, then closes',
  async t => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-drain-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const tls = await ensureLocalCertificate(dir, ['localhost'])
    const server = createSecureServer({ allowHTTP1: true, key: tls.key, cert: tls.cert })
    // Generous: the linger only has to outlast this test's own round trip on a loaded machine.
    const connections = trackConnections(server, { idleCloseMs: 5000 })
    server.on('request', (request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' }).end(`answered ${request.url}`)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => server.close())
    const port = (server.address() as { port: number }).port

    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(tls.caCertPath),
      ALPNProtocols: ['http/1.1'],
    })
    t.teardown(() => socket.destroy())
    await new Promise<void>(resolve => socket.once('secureConnect', resolve))
    const read = reader(socket)
    socket.write('GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n')
    t.match(
      await read.until(/answered \/first/),
      /^HTTP\/1\.1 200 .*\r\nConnection: keep-alive\r\n/s,
      'kept alive before the drain',
    )

    // The connection is idle now. The drain begins, and the client, which could not know, sends its next request.
    const drained = connections.drain()
    socket.write('GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n')
    const text = await read.until(/answered \/second/)
    const after = text.slice(text.indexOf('HTTP/1.1', 1)) // the second response
    t.match(after, /^HTTP\/1\.1 200 /, 'the request sent as the drain began is answered, not cut off')
    t.match(after, /\r\nConnection: close\r\n/i, 'and told to close the connection')
    await read.closed
    await drained
    t.pass('the server closed the connection, and the drain ended')
  },
)
