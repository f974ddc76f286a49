// The API itself, the baseline of every ratio: the compiled server on the bench's Postgres database, called
// directly over plain HTTP with identity headers the bench signs as the proxy would.
import { join } from 'node:path'
import { signIdentity } from '../../common/identity-signature.js'
import { startProcess, waitUntilAnswers, type Managed } from '../processes.js'
import type { Scenario } from '../scenarios.js'
import type { BenchContext, Target } from './target.js'

export async function startApi (context: Omit<BenchContext, 'apiOrigin' | 'scenarios'>, port: number): Promise<{ api: Managed, origin: string }> {
  const api = startProcess('API', process.execPath, [join(context.buildDir, 'dist/server/main.js')], {
    cwd: context.buildDir,
    logFile: join(context.dir, 'api.log'),
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: join(context.dir, 'api-data'),
      DATABASE_URL: context.database.appUrl,
      IDENTITY_SECRET: context.identitySecret,
      IDENTITY_MAX_AGE_SECONDS: String(context.identityMaxAgeSeconds),
      LOG_LEVEL: context.settings.logLevel,
      NODE_ENV: 'production',
    },
  })
  const origin = `http://127.0.0.1:${port}`
  await waitUntilAnswers(api, `${origin}/ready`)
  return { api, origin }
}

export function apiTarget (context: BenchContext, api: Managed): Target {
  return {
    id: 'api',
    label: 'API direct (no proxy)',
    workers: '1 Node process',
    origin: context.apiOrigin,
    logFiles: [api.logFile],
    rootPids: () => [api.child.pid!],
    notApplicable: () => undefined,
    securityHeaders: false,
    omissions: ['plain HTTP, no TLS', 'identity pre-signed by the bench', 'no auth, rate limit, cache or edge headers'],
    async prepare (scenario: Scenario) {
      if (scenario.login === undefined) return {}
      return signIdentity(context.identitySecret, { tenant: scenario.login.tenant, user: scenario.login.user, requestId: 'bench-direct', method: scenario.method, url: scenario.url, body: scenario.body })
    },
    expectedHeaders: () => ({}),
    // Stopped by the bench after every target that forwards to it.
    stop: async () => {},
  }
}
