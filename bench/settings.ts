// The benchmark's knobs, read once through the same validated loader the API and the proxy use.
import { Type, type Static } from 'typebox'
import { loadEnvConfig } from '../common/env-config.ts'

export const TARGET_IDS = [
  'api',
  'node-bare',
  'gatehouse',
  'gatehouse-all-cores',
  'gatehouse-baseline',
  'nginx',
  'nginx-all-cores',
  'nginx-low-cost',
  'caddy',
  'caddy-all-cores',
] as const
export const SCENARIO_IDS = ['cached-get', 'uncached-get', 'write', 'graphql', 'new-tls'] as const
/** The edge-overhead section's rows (bench/edge-overhead/): the edges in front of a trivial upstream. */
export const OVERHEAD_TARGET_IDS = [
  'upstream-direct',
  'gatehouse',
  'gatehouse-all-cores',
  'gatehouse-baseline',
  'node-bare',
  'node-minimal',
  'nginx',
  'caddy',
] as const
export const OVERHEAD_SCENARIO_IDS = [
  'forwarded',
  'cache-hit',
  'new-tls',
  // Compression (bench/edge-overhead/scenarios.ts): a 20-project page, uncoded and in each coding, missed and hit.
  'page-miss',
  'page-miss-gzip',
  'page-miss-br',
  'page-miss-zstd',
  'page-hit',
  'page-hit-gzip',
  'page-hit-br',
  'page-hit-zstd',
] as const
/**
 * edge-overhead: the edges alone in front of a trivial upstream (bench/edge-overhead/); edge: the targets and
 * scenarios above, in front of the API; api: the API alone beside a minimal reference service (bench/api/);
 * tenancy: the API's list query with and without its tenant transaction.
 */
export const SECTION_IDS = ['edge-overhead', 'edge', 'api', 'tenancy'] as const
/** The api section's servers (bench/api/subjects.ts) and the requests each of them gets (bench/api/scenarios.ts). */
export const API_SUBJECT_IDS = [
  'api',
  'api-rls-bypassed',
  'api-baseline',
  'reference',
  'reference-prisma',
  'reference-plain',
  'api-pglite',
] as const
export const API_SCENARIO_IDS = ['list', 'get', 'create', 'update', 'graphql'] as const
export type TargetId = (typeof TARGET_IDS)[number]
export type ScenarioId = (typeof SCENARIO_IDS)[number]
export type OverheadTargetId = (typeof OVERHEAD_TARGET_IDS)[number]
export type OverheadScenarioId = (typeof OVERHEAD_SCENARIO_IDS)[number]
/** Any server a section drives (a Target's id), and any load it is given (a Scenario's id). */
export type ServerId = TargetId | OverheadTargetId
export type AnyScenarioId = ScenarioId | OverheadScenarioId
export type SectionId = (typeof SECTION_IDS)[number]
export type ApiSubjectId = (typeof API_SUBJECT_IDS)[number]
export type ApiScenarioId = (typeof API_SCENARIO_IDS)[number]

const list = (ids: readonly string[]): string => `^(${ids.join('|')})(,(${ids.join('|')}))*$`

export const BenchEnvSchema = Type.Object({
  BENCH_SECONDS: Type.Integer({ default: 5, minimum: 1, maximum: 300, description: 'Length of each wrk run' }),
  BENCH_ROUNDS: Type.Integer({
    default: 3,
    minimum: 1,
    maximum: 50,
    description: 'Interleaved rounds; medians are reported',
  }),
  BENCH_WARMUP_SECONDS: Type.Integer({
    default: 2,
    minimum: 0,
    maximum: 60,
    description: 'An uncounted run per target and scenario before the first round (0: none)',
  }),
  BENCH_CONNECTIONS: Type.Integer({
    default: 32,
    minimum: 1,
    maximum: 1000,
    description: 'wrk connections (one wrk thread)',
  }),
  BENCH_SECTIONS: Type.String({
    default: SECTION_IDS.join(','),
    pattern: list(SECTION_IDS),
    description:
      'What one run measures and reports: the edge comparison, the API beside a reference service, the tenancy cost',
  }),
  BENCH_TARGETS: Type.String({ default: TARGET_IDS.join(','), pattern: list(TARGET_IDS) }),
  BENCH_SCENARIOS: Type.String({ default: SCENARIO_IDS.join(','), pattern: list(SCENARIO_IDS) }),
  BENCH_EDGE_TARGETS: Type.String({
    default: OVERHEAD_TARGET_IDS.join(','),
    pattern: list(OVERHEAD_TARGET_IDS),
    description: 'The rows of the edge-overhead section',
  }),
  BENCH_EDGE_SCENARIOS: Type.String({
    default: OVERHEAD_SCENARIO_IDS.join(','),
    pattern: list(OVERHEAD_SCENARIO_IDS),
    description: 'The loads of the edge-overhead section',
  }),
  BENCH_EDGE_CONNECTIONS: Type.Integer({
    default: 50,
    minimum: 1,
    maximum: 1000,
    description: 'wrk connections of the edge-overhead section (one wrk thread)',
  }),
  BENCH_API_SUBJECTS: Type.String({
    default: API_SUBJECT_IDS.join(','),
    pattern: list(API_SUBJECT_IDS),
    description: 'The servers of the api section',
  }),
  BENCH_API_SCENARIOS: Type.String({
    default: API_SCENARIO_IDS.join(','),
    pattern: list(API_SCENARIO_IDS),
    description: 'The requests of the api section',
  }),
  BENCH_BCRYPT_COST: Type.Integer({
    default: 10,
    minimum: 4,
    maximum: 14,
    description: 'bcrypt cost of the logins every target checks (ours: 10)',
  }),
  BENCH_LOW_BCRYPT_COST: Type.Integer({
    default: 5,
    minimum: 4,
    maximum: 14,
    description: 'Cost for the nginx-low-cost target',
  }),
  BENCH_TENANCY_CONCURRENCY: Type.Integer({
    default: 8,
    minimum: 1,
    maximum: 256,
    description: 'Concurrent query loops (and pooled connections) of the tenancy section',
  }),
  BENCH_POSTGRES_URL: Type.String({
    default: 'postgresql://postgres@127.0.0.1:5432/postgres',
    pattern: '^postgres(ql)?://',
    description: 'A superuser on the server the bench creates its database on',
  }),
  BENCH_PROFILE: Type.Boolean({
    default: false,
    description: 'Instead of the comparison: CPU profiles of our proxy under the GET scenarios',
  }),
  BENCH_BASELINE_REF: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'A commit whose proxy runs as the gatehouse-baseline row (before/after in one run)',
    }),
  ),
  BENCH_LOG_LEVEL: Type.Enum(['warn', 'info', 'debug'], {
    default: 'warn',
    description: 'LOG_LEVEL of the API and our proxy (info or debug only to investigate: logging costs CPU)',
  }),
  BENCH_OUTPUT_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Where profiles and the Markdown report are kept (default .scratch/bench-<time>)',
    }),
  ),
})

export type BenchEnv = Static<typeof BenchEnvSchema>

export interface BenchSettings {
  seconds: number
  rounds: number
  warmupSeconds: number
  connections: number
  sections: SectionId[]
  targets: TargetId[]
  scenarios: ScenarioId[]
  overheadTargets: OverheadTargetId[]
  overheadScenarios: OverheadScenarioId[]
  overheadConnections: number
  apiSubjects: ApiSubjectId[]
  apiScenarios: ApiScenarioId[]
  bcryptCost: number
  lowBcryptCost: number
  tenancyConcurrency: number
  postgresUrl: string
  profile: boolean
  outputDir: string | undefined
  baselineRef: string | undefined
  logLevel: 'warn' | 'info' | 'debug'
}

export function loadBenchSettings(env: Record<string, string | undefined>): BenchSettings {
  const settings = loadEnvConfig(BenchEnvSchema, env)
  const split = <T extends string>(text: string): T[] => [...new Set(text.split(',') as T[])]
  return {
    seconds: settings.BENCH_SECONDS,
    rounds: settings.BENCH_ROUNDS,
    warmupSeconds: settings.BENCH_WARMUP_SECONDS,
    connections: settings.BENCH_CONNECTIONS,
    sections: split<SectionId>(settings.BENCH_SECTIONS),
    targets: split<TargetId>(settings.BENCH_TARGETS),
    scenarios: split<ScenarioId>(settings.BENCH_SCENARIOS),
    // In the order of the ids, as the api section's: rows and columns do not depend on the order asked for.
    overheadTargets: OVERHEAD_TARGET_IDS.filter(id => split(settings.BENCH_EDGE_TARGETS).includes(id)),
    overheadScenarios: OVERHEAD_SCENARIO_IDS.filter(id => split(settings.BENCH_EDGE_SCENARIOS).includes(id)),
    overheadConnections: settings.BENCH_EDGE_CONNECTIONS,
    // Always in the order of the ids, whatever the order given: the api section's first pass asks the API first.
    apiSubjects: API_SUBJECT_IDS.filter(id => split<ApiSubjectId>(settings.BENCH_API_SUBJECTS).includes(id)),
    apiScenarios: API_SCENARIO_IDS.filter(id => split<ApiScenarioId>(settings.BENCH_API_SCENARIOS).includes(id)),
    bcryptCost: settings.BENCH_BCRYPT_COST,
    lowBcryptCost: settings.BENCH_LOW_BCRYPT_COST,
    tenancyConcurrency: settings.BENCH_TENANCY_CONCURRENCY,
    postgresUrl: settings.BENCH_POSTGRES_URL,
    profile: settings.BENCH_PROFILE,
    outputDir: settings.BENCH_OUTPUT_DIR,
    baselineRef: settings.BENCH_BASELINE_REF,
    logLevel: settings.BENCH_LOG_LEVEL,
  }
}

/** The command that repeats a run with these settings (seconds and rounds always, the rest when not defaults). */
export function reproduceCommand(settings: BenchSettings): string {
  const defaults = loadBenchSettings({})
  const env = [`BENCH_SECONDS=${settings.seconds}`, `BENCH_ROUNDS=${settings.rounds}`]
  if (settings.warmupSeconds !== defaults.warmupSeconds) env.push(`BENCH_WARMUP_SECONDS=${settings.warmupSeconds}`)
  if (settings.connections !== defaults.connections) env.push(`BENCH_CONNECTIONS=${settings.connections}`)
  if (settings.sections.join(',') !== defaults.sections.join(',')) {
    env.push(`BENCH_SECTIONS=${settings.sections.join(',')}`)
  }
  if (settings.targets.join(',') !== defaults.targets.join(',')) env.push(`BENCH_TARGETS=${settings.targets.join(',')}`)
  if (settings.scenarios.join(',') !== defaults.scenarios.join(',')) {
    env.push(`BENCH_SCENARIOS=${settings.scenarios.join(',')}`)
  }
  const overheadTargets = settings.overheadTargets.join(',')
  if (overheadTargets !== defaults.overheadTargets.join(',')) env.push(`BENCH_EDGE_TARGETS=${overheadTargets}`)
  const overheadScenarios = settings.overheadScenarios.join(',')
  if (overheadScenarios !== defaults.overheadScenarios.join(',')) env.push(`BENCH_EDGE_SCENARIOS=${overheadScenarios}`)
  if (settings.overheadConnections !== defaults.overheadConnections) {
    env.push(`BENCH_EDGE_CONNECTIONS=${settings.overheadConnections}`)
  }
  if (settings.apiSubjects.join(',') !== defaults.apiSubjects.join(',')) {
    env.push(`BENCH_API_SUBJECTS=${settings.apiSubjects.join(',')}`)
  }
  if (settings.apiScenarios.join(',') !== defaults.apiScenarios.join(',')) {
    env.push(`BENCH_API_SCENARIOS=${settings.apiScenarios.join(',')}`)
  }
  if (settings.bcryptCost !== defaults.bcryptCost) env.push(`BENCH_BCRYPT_COST=${settings.bcryptCost}`)
  if (settings.lowBcryptCost !== defaults.lowBcryptCost) env.push(`BENCH_LOW_BCRYPT_COST=${settings.lowBcryptCost}`)
  if (settings.tenancyConcurrency !== defaults.tenancyConcurrency) {
    env.push(`BENCH_TENANCY_CONCURRENCY=${settings.tenancyConcurrency}`)
  }
  if (settings.logLevel !== defaults.logLevel) env.push(`BENCH_LOG_LEVEL=${settings.logLevel}`)
  if (settings.baselineRef !== undefined) env.push(`BENCH_BASELINE_REF=${settings.baselineRef}`)
  return `${env.join(' ')} npm run bench`
}
