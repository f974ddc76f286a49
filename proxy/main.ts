// The edge proxy's entry: settings validated once (a bad one: exit 78 before anything starts), then one
// process serving everything (proxy/edge-process.ts), or with PROXY_WORKERS > 1 a node:cluster primary
// (proxy/cluster/primary.ts) whose workers each run that same edge process.
import cluster from 'node:cluster'
import { pino } from 'pino'
import { ConfigError } from '../common/env-config.js'
import { loggerOptions } from '../common/logger.js'
import { runPrimary } from './cluster/primary.js'
import { loadProxyConfig, type ProxyConfig } from './config.js'
import { runEdgeProcess, type EdgeHooks } from './edge-process.js'
import { createTenantFactsClient } from './tenant-facts/tenant-facts-client.js'

let config: ProxyConfig
try {
  config = loadProxyConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`gatehouse proxy: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

// On-demand TLS orders a certificate for a name nobody configured only when the API says a tenant owns it (Caddy's
// `ask`), asked by whichever process orders: the primary in a cluster, else the one process.
function askTheApi(config: ProxyConfig): EdgeHooks {
  if (config.acme === undefined || cluster.isWorker) return {}
  const log = pino(loggerOptions('proxy', config.logLevel)).child({ component: 'tenant-facts' })
  const client = createTenantFactsClient({
    upstreams: config.upstreams,
    identitySecret: config.identitySecret,
    ...config.tenantFacts,
    log,
  })
  // The client already keeps each answer TENANT_FACTS_TTL_SECONDS: the gate believes it no longer, or a removed
  // domain would still be renewed for the gate's own minute.
  const ttlMs = config.tenantFacts.ttlMs
  return { ask: client.ask, onDemandLimits: { allowTtlMs: ttlMs, denyTtlMs: ttlMs } }
}

if (cluster.isPrimary && config.workers > 1) await runPrimary(config, askTheApi(config))
else await runEdgeProcess(config, askTheApi(config))
