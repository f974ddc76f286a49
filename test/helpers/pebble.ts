// Debian's Pebble (a test ACME CA) and pebble-challtestsrv as its DNS, answering 127.0.0.1 for every name, so
// Pebble validates challenges against the test edge's HTTP and HTTPS ports on loopback. Pebble's own HTTPS
// certificate is made with openssl in a temp dir; its roots come from its management API.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import type { Test } from 'tap'
import { Agent, request } from 'undici'
import { eventually, freePort } from './edge-stack.ts'

export interface PebbleOptions {
  /** The ports Pebble validates HTTP-01 and TLS-ALPN-01 against: the test edge's. */
  httpPort: number
  tlsPort: number
  /** Certificates' lifetime (Pebble's default is five years). */
  validitySeconds?: number
}

export interface Pebble {
  directoryUrl: string
  /** The PEM of Pebble's own HTTPS certificate (ACME_CA_CERT_FILE), and its file. */
  caCert: string
  caCertFile: string
  /** Pebble's current root (a new one at every start). */
  root(): Promise<string>
  /** Stops Pebble (the DNS stays), and starts it again on the same ports. */
  stop(): Promise<void>
  start(): Promise<void>
  /** Pebble's output, for a failing test's diagnostics. */
  output(): string
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise(resolve => child.once('exit', resolve))
}

export async function startPebble(t: Test, options: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pebble-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const caCertFile = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      caCertFile,
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '2',
    ],
    { stdio: 'ignore' },
  )
  const caCert = readFileSync(caCertFile, 'utf8')
  const ports = []
  for (let i = 0; i < 4; i++) ports.push(await freePort())
  const [acmePort, managementPort, dnsPort, dnsManagementPort] = ports as [number, number, number, number]
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: caCertFile,
        privateKey: join(dir, 'key.pem'),
        httpPort: options.httpPort,
        tlsPort: options.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(options.validitySeconds !== undefined ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  )
  let output = ''
  const track = (child: ChildProcess): ChildProcess => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    t.teardown(async () => {
      child.kill('SIGKILL')
      await waitForExit(child)
    })
    return child
  }
  // No AAAA answers: the edge listens on 127.0.0.1 only.
  track(
    spawn('pebble-challtestsrv', [
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${dnsManagementPort}`,
    ]),
  )

  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`
  const agent = new Agent({ connect: { ca: caCert } })
  t.teardown(() => agent.close())
  const reachable = async (): Promise<boolean> => {
    try {
      const response = await request(directoryUrl, { dispatcher: agent })
      await response.body.dump()
      return response.statusCode === 200
    } catch {
      return false
    }
  }
  let pebble: ChildProcess | undefined
  const start = async (): Promise<void> => {
    // No random validation delays, no refused nonces, no reused authorizations: each order is validated, quickly.
    pebble = track(
      spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
      }),
    )
    await eventually(reachable, 15_000, 'Pebble answering')
  }
  await start()
  return {
    directoryUrl,
    caCert,
    caCertFile,
    async root() {
      const response = await request(`https://127.0.0.1:${managementPort}/roots/0`, { dispatcher: agent })
      return await response.body.text()
    },
    async stop() {
      pebble?.kill('SIGTERM')
      if (pebble !== undefined) await waitForExit(pebble)
    },
    start,
    output: () => output,
  }
}

export interface ServedCertificate {
  /** Whether the chain the edge sent verifies against `ca` for `servername`. */
  authorized: boolean
  authorizationError: string | undefined
  fingerprint: string
  issuer: string
  validTo: string
}

/** One handshake with `servername` to the edge on loopback; the certificate it presents, checked against `ca`. */
export async function servedCertificate(port: number, servername: string, ca?: string): Promise<ServedCertificate> {
  return await new Promise((resolve, reject) => {
    const trust = ca !== undefined ? { ca } : {}
    const options = { host: '127.0.0.1', port, servername, ...trust, rejectUnauthorized: false }
    const socket = connect({ ...options, ALPNProtocols: ['http/1.1'] }, () => {
      const peer = socket.getPeerCertificate()
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError === null ? undefined : String(socket.authorizationError),
        fingerprint: peer.fingerprint256,
        issuer: String(peer.issuer.CN ?? ''),
        validTo: peer.valid_to,
      })
      socket.end()
    })
    socket.once('error', reject)
  })
}

/** Whether the edge on `port` serves `servername` a chain that verifies against `root`. */
export const servesVerified = async (port: number, servername: string, root: string): Promise<boolean> =>
  (await servedCertificate(port, servername, root)).authorized
