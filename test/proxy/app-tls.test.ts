// The HTTPS front as clients meet it: ALPN offers HTTP/2 and HTTP/1.1 (both reach the real API), TLS
// 1.0 and 1.1 are refused by the server while 1.2 and 1.3 are accepted, the generated certificate is
// valid for localhost and 127.0.0.1 under the local CA, and openssl agrees.
import { execFile } from 'node:child_process'
import { connect as http2Connect } from 'node:http2'
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import t from 'tap'
import { forEachBackend } from '../helpers/backends.ts'
import { basic, startEdgeStack } from '../helpers/edge-stack.ts'

const run = promisify(execFile)

async function handshake(proxyUrl: string, options: ConnectionOptions): Promise<TLSSocket> {
  const url = new URL(proxyUrl)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ...options }, () => resolve(socket))
    socket.once('error', reject)
  })
}

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend)
  const alice = await stack.addLogin()
  const port = new URL(stack.proxyUrl).port

  t.test('ALPN: h2 when the client offers it, http/1.1 otherwise', async t => {
    const h2 = await handshake(stack.proxyUrl, {
      ca: stack.caCert,
      servername: 'localhost',
      ALPNProtocols: ['h2', 'http/1.1'],
    })
    t.equal(h2.alpnProtocol, 'h2')
    h2.end()
    const h1 = await handshake(stack.proxyUrl, {
      ca: stack.caCert,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    })
    t.equal(h1.alpnProtocol, 'http/1.1')
    h1.end()
  })

  t.test('a real API request over HTTP/2 and over HTTP/1.1', async t => {
    const session = http2Connect(stack.proxyUrl, { ca: stack.caCert, servername: 'localhost' })
    t.teardown(() => session.close())
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/api/v1/projects', authorization: basic(alice) })
      let body = ''
      let status = 0
      stream.on('response', headers => {
        status = Number(headers[':status'])
      })
      stream.on('data', chunk => {
        body += String(chunk)
      })
      stream.on('end', () => resolve({ status, body }))
      stream.on('error', reject)
      stream.end()
    })
    t.equal(status, 200)
    t.same(JSON.parse(body), { data: [], next: null })
    const overH1 = await stack.request('/api/v1/projects', { as: alice, http2: false })
    t.equal(overH1.status, 200)
    t.same(overH1.json(), { data: [], next: null })
  })

  t.test('plain HTTP sent to the HTTPS port gets a 400 that says to use https, not an empty reply', async t => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/projects`)
      t.equal(response.status, 400)
      t.match(response.headers.get('content-type'), /^application\/problem\+json/)
      t.match(await response.json(), {
        type: 'urn:gatehouse:problem:https-required',
        status: 400,
        detail: /use https:\/\//,
      })
    }
    const h2 = await handshake(stack.proxyUrl, { ca: stack.caCert, servername: 'localhost', ALPNProtocols: ['h2'] })
    t.equal(h2.alpnProtocol, 'h2', 'the HTTPS port still serves TLS')
    h2.end()
  })

  t.test('TLS 1.0 and 1.1 are refused by the server; 1.2 and 1.3 are accepted', async t => {
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      // SECLEVEL=0 lets this client offer the old protocols, so the refusal is the server's alert.
      const refused = handshake(stack.proxyUrl, {
        ca: stack.caCert,
        servername: 'localhost',
        minVersion: version,
        maxVersion: version,
        ciphers: 'DEFAULT@SECLEVEL=0',
      })
      await t.rejects(refused, { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, version)
    }
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const socket = await handshake(stack.proxyUrl, {
        ca: stack.caCert,
        servername: 'localhost',
        minVersion: version,
        maxVersion: version,
      })
      t.equal(socket.getProtocol(), version)
      t.ok(socket.authorized, `${version}: the chain verifies against the local CA`)
      socket.end()
    }
  })

  t.test('the leaf is valid for localhost and for 127.0.0.1', async t => {
    const byName = await handshake(stack.proxyUrl, { ca: stack.caCert, servername: 'localhost' })
    t.ok(byName.authorized)
    byName.end()
    // No servername: Node checks the certificate against the IP address connected to.
    const byAddress = await handshake(stack.proxyUrl, { ca: stack.caCert })
    t.ok(byAddress.authorized)
    t.match(byAddress.getPeerCertificate().subjectaltname, /DNS:localhost/)
    t.match(byAddress.getPeerCertificate().subjectaltname, /IP Address:127\.0\.0\.1/)
    byAddress.end()
    await t.rejects(handshake(stack.proxyUrl, { ca: stack.caCert, servername: 'example.com' }), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    })
  })

  t.test('openssl s_client agrees', async t => {
    const caFile = `${stack.dataDir}/tls/ca.crt`
    const sClient = async (...args: string[]): Promise<string> => {
      const child = run(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', caFile, ...args],
        { timeout: 10_000 },
      )
      child.child.stdin?.end()
      return child.then(
        ({ stdout, stderr }) => stdout + stderr,
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      )
    }
    const modern = await sClient('-tls1_2', '-alpn', 'h2', '-verify_hostname', 'localhost', '-verify_return_error')
    t.match(modern, /Protocol\s*:\s*TLSv1\.2/)
    t.match(modern, /ALPN protocol: h2/)
    t.match(modern, /Verify return code: 0 \(ok\)/)
    const tls13 = await sClient('-tls1_3', '-alpn', 'http/1.1')
    t.match(tls13, /TLSv1\.3/)
    t.match(tls13, /ALPN protocol: http\/1\.1/)
    const old = await sClient('-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0')
    t.match(old, /alert protocol version|no protocols available/)
    t.match(old, /no peer certificate available/, 'the handshake never completed')
  })
})
