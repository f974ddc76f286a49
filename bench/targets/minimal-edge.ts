// The minimal Node edge (bench/minimal-edge.ts): the same work as our proxy done the plainest way, the floor
// its CPU per request is held to. It runs compiled, from the bench's build (bench/build.ts), as our proxy does.
import { join } from 'node:path'
import { ROOT } from '../build.ts'
import { startProcess, waitUntilAnswers } from '../processes.ts'
import { startProxyFlags } from './gatehouse.ts'
import { EDGE_HEADERS } from '../minimal-edge.ts'
import { edgeCredentials, type Target, type TargetContext } from './target.ts'

export async function startMinimalEdge(context: TargetContext, port: number, nodeArgs: string[] = []): Promise<Target> {
  const entry = join(context.buildDir, 'dist/bench/minimal-edge.js')
  const edge = startProcess(
    'node-minimal',
    process.execPath,
    [...startProxyFlags(context.buildDir), ...nodeArgs, entry],
    {
      cwd: ROOT,
      logFile: join(context.dir, 'node-minimal.log'),
      env: {
        ...process.env,
        NODE_ENV: 'production',
        MINIMAL_PORT: String(port),
        MINIMAL_UPSTREAM: context.apiOrigin,
        MINIMAL_CERT_FILE: context.credentials.certChainFile,
        MINIMAL_KEY_FILE: context.credentials.keyFile,
        MINIMAL_HTPASSWD_FILE: context.credentials.htpasswd.file,
        MINIMAL_IDENTITY_SECRET: context.identitySecret,
      },
    },
  )
  const origin = `https://127.0.0.1:${port}`
  await waitUntilAnswers(edge, `${origin}/health`, { caCert: context.credentials.caCert })
  const edgeHeaders = Object.fromEntries(
    Object.entries(EDGE_HEADERS).map(([name, value]) => [name, new RegExp(`^${value}$`)]),
  )
  return {
    id: 'node-minimal',
    label: 'Minimal Node edge (floor)',
    workers: '1 Node process',
    origin,
    logFiles: [edge.logFile],
    rootPids: () => [edge.child.pid!],
    notApplicable: () => undefined,
    // Three of the proxy's twelve security headers (checked below), not the whole set.
    securityHeaders: false,
    omissions: [
      'HTTP/1.1 only',
      'HSTS, nosniff and X-Frame-Options only',
      'no request ids from clients, metrics, ' +
        'logs, Cache-Status detail, conditional requests, collapsed misses, per-user upstream shares or timeouts',
      'Accept-Encoding read by name (no q-values or identity); coded variants expire with their entry, not dropped when it is replaced',
    ],
    prepare: async scenario => edgeCredentials(scenario),
    expectedHeaders(scenario) {
      if (scenario.login === undefined) return edgeHeaders
      return { ...edgeHeaders, 'cache-status': scenario.cached ? /^minimal; hit$/ : /^$/ }
    },
    stop: () => edge.stop(),
  }
}
