// The edge proxy's entry: settings validated once (a bad one: exit 78 before anything starts), then one
// process serving everything (proxy/edge-process.ts), or with PROXY_WORKERS > 1 a node:cluster primary
// (proxy/cluster/primary.ts) whose workers each run that same edge process.
import cluster from 'node:cluster'
import { ConfigError } from '../common/env-config.js'
import { runPrimary } from './cluster/primary.js'
import { loadProxyConfig, type ProxyConfig } from './config.js'
import { runEdgeProcess } from './edge-process.js'

let config: ProxyConfig
try {
  config = loadProxyConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`gatehouse proxy: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

if (cluster.isPrimary && config.workers > 1) await runPrimary(config)
else await runEdgeProcess(config)
