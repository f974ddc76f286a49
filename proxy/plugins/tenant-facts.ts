// app.tenantFacts: what the edge knows about tenants from the API (their plans, their domains), kept in memory.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { ProxyConfig } from '../config.ts'
import { createTenantFactsClient, type TenantFactsClient } from '../tenant-facts/tenant-facts-client.ts'

declare module 'fastify' {
  interface FastifyInstance {
    tenantFacts: TenantFactsClient
  }
}

export interface TenantFactsPluginOptions {
  upstreams: URL[]
  identitySecret: string
  settings: ProxyConfig['tenantFacts']
}

async function tenantFacts(app: FastifyInstance, options: TenantFactsPluginOptions): Promise<void> {
  const client = createTenantFactsClient({
    upstreams: options.upstreams,
    identitySecret: options.identitySecret,
    ...options.settings,
    log: app.log,
  })
  app.decorate('tenantFacts', client)
  app.addHook('onClose', async () => {
    await client.close()
  })
}

export default fp(tenantFacts, { name: 'tenant-facts', fastify: '5.x' })
