// How often an edge resumes a TLS session instead of a full handshake: connections one after the other, each
// offering the session ticket the previous one received (if it received one), as an OpenSSL client (wrk) does.
// A resumed connection skips the certificate signature, most of a new connection's CPU.
import { connect, type TLSSocket } from 'node:tls'

export interface Resumption {
  attempts: number
  resumed: number
}

interface Connection {
  reused: boolean
  ticket: Buffer | undefined
}

/** One connection: a GET of the URL's path with Connection: close, read to its end; the last ticket it was given. */
function once(url: URL, caCert: string, session: Buffer | undefined): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined
    let reused = false
    const socket: TLSSocket = connect({
      host: url.hostname,
      port: Number(url.port),
      ca: caCert,
      session,
      ALPNProtocols: ['http/1.1'],
    })
    // TLS 1.3 tickets come after the handshake: the server's answer has been read by the time the socket closes.
    socket.on('session', (next: Buffer) => {
      ticket = next
    })
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused()
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`)
    })
    socket.on('data', () => {})
    socket.once('error', reject)
    socket.once('close', () => resolve({ reused, ticket }))
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer from ${url.origin} within 5 s`)))
  })
}

/** `attempts` connections after a first one that only fetches a ticket. */
export async function measureResumption(url: URL, caCert: string, attempts = 100): Promise<Resumption> {
  let { ticket } = await once(url, caCert, undefined)
  let resumed = 0
  for (let attempt = 0; attempt < attempts; attempt++) {
    const result = await once(url, caCert, ticket)
    if (result.reused) resumed++
    // Each ticket once, as RFC 8446 (C.4) advises and OpenSSL's client does: a connection that got none
    // leaves the next one without a ticket to offer, and so with a full handshake.
    ticket = result.ticket
  }
  return { attempts, resumed }
}
