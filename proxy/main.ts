// The edge proxy's entry: settings validated once (a bad one: exit 78 before anything starts), then one
// process serving everything (proxy/edge-process.ts), or with PROXY_WORKERS > 1 a node:cluster primary
// (proxy/cluster/primary.ts) whose workers each run that same edge process.
import cluster from 'node:cluster'
import { pino } from 'pino'
import { ConfigError } from '../common/env-config.ts'
import { loggerOptions } from '../common/logger.ts'
import { runPrimary } from './cluster/primary.ts'
import { loadProxyConfig, type ProxyConfig } from './config.ts'
import { askingTheApi, runEdgeProcess, type EdgeHooks } from './edge-process.ts'
import { createTenantFactsClient } from './tenant-facts/tenant-facts-client.ts'

let config: ProxyConfig
try {
  config = loadProxyConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`gatehouse proxy: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

// A cluster's primary orders certificates, so it asks the API itself (the workers' apps ask for plans and owners).
function primaryHooks(config: ProxyConfig): EdgeHooks {
  if (config.acme === undefined) return {}
  const log = pino(loggerOptions('proxy', config.logLevel)).child({ component: 'tenant-facts' })
  const client = createTenantFactsClient({
    upstreams: config.upstreams,
    identitySecret: config.identitySecret,
    ...config.tenantFacts,
    log,
  })
  return { ...askingTheApi(config, client.ask), close: () => client.close() }
}

if (cluster.isPrimary && config.workers > 1) await runPrimary(config, primaryHooks(config))
else await runEdgeProcess(config)
