// Our edge proxy, compiled, as production runs it: one Node process, or (PROXY_WORKERS=auto) one per core.
// Rate limits are per user at a budget no run reaches (1e9 per minute), so the counting is done but never refuses.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { startProcess, waitUntilAnswers } from '../processes.ts'
import type { Scenario } from '../scenarios.ts'
import { edgeCredentials, type Target, type TargetContext } from './target.ts'

export interface GatehouseOptions {
  port: number
  allCores: boolean
  /** Extra node flags (the profiler: --cpu-prof). */
  nodeArgs?: string[]
  /** Runs the proxy with a different log name (profiling). */
  name?: string
  /** Another build of the proxy (BENCH_BASELINE_REF): its row is gatehouse-baseline, labelled with the commit. */
  baseline?: { buildDir: string; commit: string }
}

const PROXY_ENTRY = 'dist/proxy/main.js'

/**
 * The node flags `npm run start:proxy` gives the proxy in that build's package.json (its V8 heap settings), so the
 * bench runs each build as production runs it; compose and the Kubernetes manifests are held to the same command.
 * The Node floors (bare forwarder, minimal edge) run under them too: the same GC settings, so what differs is code.
 */
export function startProxyFlags(buildDir: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(buildDir, 'package.json'), 'utf8')) as {
    scripts: Record<string, string | undefined>
  }
  const words = scripts['start:proxy']?.trim().split(/\s+/) ?? []
  if (words[0] !== 'node' || words.at(-1) !== PROXY_ENTRY) {
    throw new Error(`${buildDir}/package.json: start:proxy is not "node [flags] ${PROXY_ENTRY}"`)
  }
  return words.slice(1, -1)
}

export async function startGatehouse(context: TargetContext, options: GatehouseOptions): Promise<Target> {
  const id =
    options.baseline !== undefined ? 'gatehouse-baseline' : options.allCores ? 'gatehouse-all-cores' : 'gatehouse'
  const name = options.name ?? id
  const buildDir = options.baseline?.buildDir ?? context.buildDir
  const proxy = startProcess(
    name,
    process.execPath,
    [...startProxyFlags(buildDir), ...(options.nodeArgs ?? []), join(buildDir, PROXY_ENTRY)],
    {
      cwd: buildDir,
      logFile: join(context.dir, `${name}.log`),
      env: {
        ...process.env,
        DATA_DIR: join(context.dir, `${name}-data`),
        PROXY_HOST: '127.0.0.1',
        PROXY_HTTPS_PORT: String(options.port),
        PROXY_HTTP_PORT: '0',
        PROXY_METRICS_PORT: '0',
        UPSTREAM_URLS: context.apiOrigin,
        IDENTITY_SECRET: context.identitySecret,
        TLS_CERT_FILE: context.credentials.certChainFile,
        TLS_KEY_FILE: context.credentials.keyFile,
        HTPASSWD_FILE: context.credentials.htpasswd.file,
        TENANT_PLANS: 'acme=enterprise,globex=enterprise',
        RATE_LIMIT_ENTERPRISE: '1000000000',
        LOG_LEVEL: context.settings.logLevel,
        NODE_ENV: 'production',
        ...(options.allCores ? { PROXY_WORKERS: 'auto' } : {}),
      },
    },
  )
  const origin = `https://127.0.0.1:${options.port}`
  await waitUntilAnswers(proxy, `${origin}/health`, { caCert: context.credentials.caCert })
  return {
    id,
    label:
      options.baseline !== undefined
        ? `Gatehouse proxy at ${options.baseline.commit} (baseline)`
        : options.allCores
          ? 'Gatehouse proxy, all cores'
          : 'Gatehouse proxy',
    workers: options.allCores ? `PROXY_WORKERS=auto (${availableParallelism()} workers)` : '1 Node process',
    origin,
    logFiles: [proxy.logFile],
    rootPids: () => [proxy.child.pid!],
    notApplicable: () => undefined,
    securityHeaders: true,
    omissions: [],
    async prepare(scenario: Scenario) {
      return edgeCredentials(scenario)
    },
    expectedHeaders(scenario: Scenario): Record<string, RegExp> {
      if (scenario.login === undefined) return {}
      // A GET not answered from the cache: the client said no-store (bypass), or the upstream did (edge-overhead).
      const noStoreAsked = /no-store/.test(scenario.headers['cache-control'] ?? '')
      const forwardedGet = noStoreAsked ? /fwd=bypass/ : /fwd=uri-miss; fwd-status=200; detail=no-store/
      const cache = scenario.cached ? /; hit/ : scenario.method === 'GET' ? forwardedGet : /fwd=method/
      return { 'cache-status': cache, 'ratelimit-limit': /^1000000000$/ }
    },
    stop: () => proxy.stop(),
  }
}
