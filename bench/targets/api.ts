// The API itself, the baseline of every ratio: the compiled server on the bench's Postgres database, called
// directly over plain HTTP with identity headers the bench signs as the proxy would.
import { join } from 'node:path'
import { signIdentity } from '../../common/identity-signature.ts'
import { startProcess, waitUntilAnswers, type Managed } from '../processes.ts'
import type { Scenario } from '../scenarios.ts'
import type { BenchContext, Target } from './target.ts'

/** How one compiled API process is run: the edge's upstream, and the api section's subjects (bench/api/). */
export interface ApiProcess {
  name: string
  buildDir: string
  port: number
  logFile: string
  /** Its DATA_DIR (the embedded database's folder when there is no databaseUrl). */
  dataDir: string
  /** Postgres to connect to; undefined: embedded PGlite in dataDir. */
  databaseUrl: string | undefined
  identitySecret: string
  identityMaxAgeSeconds: number
  logLevel: string
}

export async function startApiProcess(options: ApiProcess): Promise<{ api: Managed; origin: string }> {
  // Not inherited from the bench's own environment: without a URL of ours, the API must run embedded.
  const { DATABASE_URL: _inherited, ...env } = process.env
  const api = startProcess(options.name, process.execPath, [join(options.buildDir, 'dist/server/main.js')], {
    cwd: options.buildDir,
    logFile: options.logFile,
    env: {
      ...env,
      PORT: String(options.port),
      HOST: '127.0.0.1',
      DATA_DIR: options.dataDir,
      ...(options.databaseUrl !== undefined ? { DATABASE_URL: options.databaseUrl } : {}),
      IDENTITY_SECRET: options.identitySecret,
      IDENTITY_MAX_AGE_SECONDS: String(options.identityMaxAgeSeconds),
      LOG_LEVEL: options.logLevel,
      NODE_ENV: 'production',
    },
  })
  const origin = `http://127.0.0.1:${options.port}`
  await waitUntilAnswers(api, `${origin}/ready`)
  return { api, origin }
}

export async function startApi(
  context: Omit<BenchContext, 'apiOrigin' | 'scenarios'>,
  port: number,
): Promise<{ api: Managed; origin: string }> {
  return startApiProcess({
    name: 'API',
    buildDir: context.buildDir,
    port,
    logFile: join(context.dir, 'api.log'),
    dataDir: join(context.dir, 'api-data'),
    databaseUrl: context.database.appUrl,
    identitySecret: context.identitySecret,
    identityMaxAgeSeconds: context.identityMaxAgeSeconds,
    logLevel: context.settings.logLevel,
  })
}

export function apiTarget(context: BenchContext, api: Managed): Target {
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
    async prepare(scenario: Scenario) {
      if (scenario.login === undefined) return {}
      return signIdentity(context.identitySecret, {
        tenant: scenario.login.tenant,
        user: scenario.login.user,
        requestId: 'bench-direct',
        method: scenario.method,
        url: scenario.url,
        body: scenario.body,
      })
    },
    expectedHeaders: () => ({}),
    // Stopped by the bench after every target that forwards to it.
    stop: async () => {},
  }
}
