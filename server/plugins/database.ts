// The database for this app: Prisma on PGlite or Postgres, extended with query metrics and tenant scoping.
// The app opens (and then closes) its own database unless one is handed in, as tests do to share
// one embedded database between many app instances.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DatabaseConfig } from '../config.js'
import { openEmbedded } from '../db/embedded.js'
import { createPgliteClient, createPostgresClient, type PrismaClient } from '../db/prisma-client.js'
import { queryMetrics } from '../db/query-metrics.js'
import { tenantScope } from '../db/tenant-scope.js'

export interface Database {
  kind: DatabaseConfig['kind']
  prisma: PrismaClient
  close(): Promise<void>
}

export async function openDatabase (config: DatabaseConfig, options: { emitQueryEvents?: boolean } = {}): Promise<Database> {
  if (config.kind === 'postgres') {
    const prisma = createPostgresClient(config, options)
    return { kind: 'postgres', prisma, close: () => prisma.$disconnect() }
  }
  const embedded = await openEmbedded(config.dataDir, { seed: config.seedDemoData })
  const prisma = createPgliteClient(embedded.db, options)
  return {
    kind: 'pglite',
    prisma,
    async close () {
      await prisma.$disconnect()
      await embedded.close()
    },
  }
}

function extendClient (prisma: PrismaClient, app: FastifyInstance) {
  const histogram = app.appMetrics.dbQueryDuration
  return prisma
    .$extends(queryMetrics((labels, seconds) => histogram.observe(labels, seconds)))
    .$extends(tenantScope())
}

export type AppDatabaseClient = ReturnType<typeof extendClient>

declare module 'fastify' {
  interface FastifyInstance {
    db: AppDatabaseClient
    database: { kind: Database['kind'], ping(): Promise<void> }
  }
}

export interface DatabasePluginOptions {
  config: DatabaseConfig
  /** An already open database; the app then leaves closing it to whoever opened it. */
  database?: Database
}

async function database (app: FastifyInstance, options: DatabasePluginOptions): Promise<void> {
  const owned = options.database === undefined
  const opened = options.database ?? await openDatabase(options.config)
  app.decorate('db', extendClient(opened.prisma, app))
  app.decorate('database', {
    kind: opened.kind,
    async ping () {
      await opened.prisma.$queryRaw`SELECT 1`
    },
  })
  if (owned) app.addHook('onClose', async () => { await opened.close() })
}

export default fp(database, { name: 'database', fastify: '5.x', dependencies: ['metrics'] })
