// The api section's servers, each a process of its own whose CPU the bench reads from /proc: the compiled API
// three ways (the app role, the superuser, embedded PGlite) and the reference service three ways (RLS, RLS through
// Prisma, WHERE only).
import { join } from 'node:path'
import { loadEnvConfig } from '../../common/env-config.ts'
import { ServerEnvSchema } from '../../server/config.ts'
import { ROOT } from '../build.ts'
import { freePort, startProcess, waitUntilAnswers, type Managed } from '../processes.ts'
import type { ApiSubjectId } from '../settings.ts'
import { startApiProcess } from '../targets/api.ts'
import { seedEmbedded, type ApiBenchDatabase, type SeedPlan } from './database.ts'
import type { Isolation } from './reference-sql.ts'

export interface ApiSubject {
  id: ApiSubjectId
  label: string
  /** What runs, for the report's notes. */
  description: string
  origin: string
  pid: number
  logFile: string
  /** Its writes land in the section's Postgres database, which is reset after each of its write runs. */
  onPostgres: boolean
  stop(): Promise<void>
}

export interface SubjectSetup {
  /** Temporary folder for logs and the embedded database. */
  dir: string
  buildDir: string
  identitySecret: string
  identityMaxAgeSeconds: number
  logLevel: string
  database: ApiBenchDatabase
  plan: SeedPlan
  /** The API compiled at BENCH_BASELINE_REF (the api-baseline subject): before/after in one run. */
  baseline?: { buildDir: string; commit: string }
}

const ABOUT: Record<ApiSubjectId, { label: string; description: string }> = {
  api: {
    label: 'API',
    description:
      'the compiled API (node dist/server/main.js) on the app role: every request a tenant transaction under row-level security',
  },
  'api-baseline': {
    label: 'API at BENCH_BASELINE_REF',
    description: 'the compiled API of another commit (BENCH_BASELINE_REF) on the app role: before/after in one run',
  },
  'api-rls-bypassed': {
    label: 'API, RLS bypassed',
    description:
      'the same API on the superuser: the same transactions, the policy not applied (isolation overhead = API ÷ this)',
  },
  reference: {
    label: 'reference',
    description:
      'bench/api/reference-server.ts: Fastify + pg, no ORM; the same identity and body-digest checks and tenant cache; each request one round trip `BEGIN; set_config; …; COMMIT` on the app role under the same policy',
  },
  'reference-prisma': {
    label: 'reference on Prisma',
    description:
      "bench/api/reference-server.ts with REFERENCE_DATA_LAYER=prisma: the same service with Prisma as its data layer on the API's lane pool, no client extensions; the floor for an API that keeps Prisma",
  },
  'reference-plain': {
    label: 'reference, WHERE only',
    description:
      'the same reference on the superuser with `tenant_id = $1` in each WHERE and no transaction: the "where clause only" floor',
  },
  'api-pglite': {
    label: 'API on PGlite (for information)',
    description:
      'the compiled API on embedded PGlite (no DATABASE_URL), seeded with the same rows; for information only, no targets',
  },
}

// The API's pool size when DATABASE_POOL_MAX is not set, as the bench runs it: the reference holds as many connections.
const API_POOL_MAX = loadEnvConfig(ServerEnvSchema, {}).DATABASE_POOL_MAX

const managed = (id: ApiSubjectId, server: Managed, origin: string, onPostgres = true): ApiSubject => ({
  id,
  ...ABOUT[id],
  origin,
  pid: server.child.pid!,
  logFile: server.logFile,
  onPostgres,
  stop: () => server.stop(),
})

async function startReference(
  id: ApiSubjectId,
  setup: SubjectSetup,
  isolation: Isolation,
  databaseUrl: string,
  dataLayer: 'sql' | 'prisma' = 'sql',
): Promise<ApiSubject> {
  const port = await freePort()
  const reference = startProcess(id, process.execPath, [join(ROOT, 'bench/api/reference-server.ts')], {
    cwd: ROOT,
    logFile: join(setup.dir, `${id}.log`),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      REFERENCE_PORT: String(port),
      REFERENCE_DATABASE_URL: databaseUrl,
      REFERENCE_ISOLATION: isolation,
      REFERENCE_DATA_LAYER: dataLayer,
      REFERENCE_POOL_MAX: String(API_POOL_MAX),
      REFERENCE_IDENTITY_SECRET: setup.identitySecret,
      REFERENCE_IDENTITY_MAX_AGE_SECONDS: String(setup.identityMaxAgeSeconds),
      REFERENCE_LOG_LEVEL: setup.logLevel,
    },
  })
  const origin = `http://127.0.0.1:${port}`
  await waitUntilAnswers(reference, `${origin}/health`)
  return managed(id, reference, origin)
}

async function startApi(
  id: ApiSubjectId,
  setup: SubjectSetup,
  databaseUrl: string | undefined,
  buildDir = setup.buildDir,
): Promise<ApiSubject> {
  const dataDir = join(setup.dir, `${id}-data`)
  // PGlite allows one process at a time: the rows go in before the API opens the folder (its DATA_DIR/pglite).
  if (databaseUrl === undefined) await seedEmbedded(join(dataDir, 'pglite'), setup.plan)
  const { api, origin } = await startApiProcess({
    name: id,
    buildDir,
    port: await freePort(),
    logFile: join(setup.dir, `${id}.log`),
    dataDir,
    databaseUrl,
    identitySecret: setup.identitySecret,
    identityMaxAgeSeconds: setup.identityMaxAgeSeconds,
    logLevel: setup.logLevel,
  })
  return managed(id, api, origin, databaseUrl !== undefined)
}

export async function startSubject(id: ApiSubjectId, setup: SubjectSetup): Promise<ApiSubject> {
  const { appUrl, superuserUrl } = setup.database
  switch (id) {
    case 'api':
      return startApi(id, setup, appUrl)
    case 'api-rls-bypassed':
      return startApi(id, setup, superuserUrl)
    case 'api-baseline': {
      if (setup.baseline === undefined) throw new Error('api-baseline needs BENCH_BASELINE_REF')
      const subject = await startApi(id, setup, appUrl, setup.baseline.buildDir)
      return { ...subject, label: `API at ${setup.baseline.commit} (before)` }
    }
    case 'api-pglite':
      return startApi(id, setup, undefined)
    case 'reference':
      return startReference(id, setup, 'rls', appUrl)
    case 'reference-prisma':
      return startReference(id, setup, 'rls', appUrl, 'prisma')
    case 'reference-plain':
      return startReference(id, setup, 'where-clause', superuserUrl)
  }
}
