// Prometheus metrics at /metrics: process and route metrics from fastify-metrics, plus database
// query latency. Each app owns its registry, so several apps in one process (tests, serverless
// warm starts) never collide on metric names.
// @see https://github.com/SkeLLLa/fastify-metrics
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import metricsPlugin from 'fastify-metrics'
import promClient from 'prom-client'

function createMetrics() {
  const registry = new promClient.Registry()
  const dbQueryDuration = new promClient.Histogram({
    name: 'gatehouse_db_query_duration_seconds',
    help: 'Duration of database operations by Prisma model and operation',
    labelNames: ['model', 'operation', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const graphqlOperations = new promClient.Counter({
    name: 'gatehouse_api_graphql_operations_total',
    help: 'GraphQL operations that passed validation and limits, by type and top-level field (fields come from the schema, so the label is bounded)',
    labelNames: ['type', 'field'] as const,
    registers: [registry],
  })
  let poolUsage: (() => { total: number; idle: number; waiting: number }) | undefined
  const dbPoolConnections = new promClient.Gauge({
    name: 'gatehouse_db_pool_connections',
    help: 'Database client connections: total, idle, and requests waiting for one (PGlite: its one connection)',
    labelNames: ['state'] as const,
    registers: [registry],
    // Read when Prometheus scrapes, not on every query.
    collect() {
      const usage = poolUsage?.()
      if (usage !== undefined) {
        for (const state of ['total', 'idle', 'waiting'] as const) this.set({ state }, usage[state])
      }
    },
  })
  const observePool = (read: typeof poolUsage): void => {
    poolUsage = read
  }
  return { registry, dbQueryDuration, graphqlOperations, dbPoolConnections, observePool }
}

declare module 'fastify' {
  interface FastifyInstance {
    appMetrics: ReturnType<typeof createMetrics>
  }
}

async function metrics(app: FastifyInstance): Promise<void> {
  const created = createMetrics()
  await app.register(metricsPlugin.default, {
    promClient,
    endpoint: '/metrics',
    defaultMetrics: { enabled: true, register: created.registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      registeredRoutesOnly: true,
      groupStatusCodes: false,
      overrides: {
        histogram: {
          registers: [created.registry],
          buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        },
        // fastify-metrics always creates the summary; registered nowhere, it stays out of every registry.
        summary: { registers: [] },
      },
    },
  })
  app.decorate('appMetrics', created)
}

export default fp(metrics, { name: 'metrics', fastify: '5.x' })
