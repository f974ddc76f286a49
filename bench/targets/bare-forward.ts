// A Node process doing only what forwarding needs (bench/bare-forward.ts): the floor our proxy's own work
// is measured from. It runs compiled, from the bench's build (bench/build.ts), as our proxy does.
import { join } from 'node:path'
import { ROOT } from '../build.ts'
import { startProcess, waitUntilAnswers } from '../processes.ts'
import { startProxyFlags } from './gatehouse.ts'
import { edgeCredentials, type Target, type TargetContext } from './target.ts'

export async function startBareForward(context: TargetContext, port: number, nodeArgs: string[] = []): Promise<Target> {
  const entry = join(context.buildDir, 'dist/bench/bare-forward.js')
  const bare = startProcess('node-bare', process.execPath, [...startProxyFlags(context.buildDir), ...nodeArgs, entry], {
    cwd: ROOT,
    logFile: join(context.dir, 'node-bare.log'),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      BARE_PORT: String(port),
      BARE_UPSTREAM: context.apiOrigin,
      BARE_CERT_FILE: context.credentials.certChainFile,
      BARE_KEY_FILE: context.credentials.keyFile,
      BARE_IDENTITY_SECRET: context.identitySecret,
    },
  })
  const origin = `https://127.0.0.1:${port}`
  await waitUntilAnswers(bare, `${origin}/health`, { caCert: context.credentials.caCert })
  return {
    id: 'node-bare',
    label: 'Node bare forwarding (floor)',
    workers: '1 Node process',
    origin,
    logFiles: [bare.logFile],
    rootPids: () => [bare.child.pid!],
    notApplicable: scenario =>
      scenario.cached && scenario.cacheOptional !== true ? 'no cache: it only forwards' : undefined,
    securityHeaders: false,
    omissions: [
      'no password check, rate limit, cache, security headers or metrics: TLS, forwarding and the identity signature only',
    ],
    prepare: async scenario => edgeCredentials(scenario),
    expectedHeaders: () => ({}),
    stop: () => bare.stop(),
  }
}
