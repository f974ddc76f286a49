// The Prisma client for either database, plus the extensions every app instance applies.
import { PrismaPg } from '@prisma/adapter-pg'
import type { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { PrismaClient } from './generated/client.js'

export { Prisma, PrismaClient } from './generated/client.js'

export interface PostgresPoolOptions {
  url: string
  poolMax: number
  connectTimeoutMs: number
  statementTimeoutMs: number
}

/** Query events are opt-in: tests count SQL statements with them, production does not pay for them. */
export function createPostgresClient (options: PostgresPoolOptions, { emitQueryEvents = false } = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolMax,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'gatehouse-api',
  })
  return new PrismaClient({ adapter, log: emitQueryEvents ? [{ emit: 'event', level: 'query' }] : [] })
}

export function createPgliteClient (db: PGlite, { emitQueryEvents = false } = {}): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPGlite(db), log: emitQueryEvents ? [{ emit: 'event', level: 'query' }] : [] })
}
