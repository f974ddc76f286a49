// The database for this app: Prisma on PGlite or Postgres, extended with query metrics and tenant scoping.
// buildApp opens the database (outside any plugin: the embedded one may take longer to open than a plugin
// may take to load) and hands it in; tests hand in one shared between many app instances.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DatabaseConfig } from '../config.ts'
import { openEmbedded } from '../db/embedded.ts'
import { createPgliteClient, createPostgresClient, type PrismaClient } from '../db/prisma-client.ts'
import { queryMetrics } from '../db/query-metrics.ts'
import { interactiveTenantScope, laneTenantScope } from '../db/tenant-scope.ts'

/** Connections of the database client: a pg pool's counts, or PGlite's one in-process connection. */
export interface PoolUsage {
  total: number
  idle: number
  waiting: number
}

export interface Database {
  kind: DatabaseConfig['kind']
  prisma: PrismaClient
  poolUsage(): PoolUsage
  /** The $withTenant extension for this database (tenant-scope.ts). */
  tenantScope(): ReturnType<typeof interactiveTenantScope>
  close(): Promise<void>
}

export async function openDatabase(
  config: DatabaseConfig,
  options: { emitQueryEvents?: boolean } = {},
): Promise<Database> {
  if (config.kind === 'postgres') {
    const { prisma, pool } = createPostgresClient(config, options)
    return {
      kind: 'postgres',
      prisma,
      poolUsage: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      tenantScope: () => laneTenantScope(pool),
      async close() {
        await prisma.$disconnect()
        await pool.end()
      },
    }
  }
  const embedded = await openEmbedded(config.dataDir, { seed: config.seedDemoData })
  const prisma = createPgliteClient(embedded.db, options)
  return {
    kind: 'pglite',
    prisma,
    poolUsage: () => ({ total: 1, idle: 1, waiting: 0 }),
    tenantScope: () => interactiveTenantScope(),
    async close() {
      await prisma.$disconnect()
      await embedded.close()
    },
  }
}

function extendClient(database: Database, app: FastifyInstance) {
  const histogram = app.appMetrics.dbQueryDuration
  return database.prisma
    .$extends(queryMetrics((labels, seconds) => histogram.observe(labels, seconds)))
    .$extends(database.tenantScope())
}

export type AppDatabaseClient = ReturnType<typeof extendClient>

declare module 'fastify' {
  interface FastifyInstance {
    db: AppDatabaseClient
    database: { kind: Database['kind']; ping(): Promise<void> }
  }
}

export interface DatabasePluginOptions {
  /** The open database (buildApp opens it, or tests hand in a shared one). */
  database: Database
  /** Close it when the app closes; false when whoever opened it closes it (tests share one). */
  closeWithApp: boolean
}

async function database(app: FastifyInstance, options: DatabasePluginOptions): Promise<void> {
  const opened = options.database
  app.decorate('db', extendClient(opened, app))
  app.appMetrics.observePool(() => opened.poolUsage())
  app.decorate('database', {
    kind: opened.kind,
    async ping() {
      await opened.prisma.$queryRaw`SELECT 1`
    },
  })
  if (options.closeWithApp) {
    app.addHook('onClose', async () => {
      await opened.close()
    })
  }
}

export default fp(database, { name: 'database', fastify: '5.x', dependencies: ['metrics'] })
