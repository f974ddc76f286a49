// The Prisma client for either database, plus the extensions every app instance applies.
import { PrismaPg } from '@prisma/adapter-pg'
import type { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { boundedPgClient } from './bounded-pg-client.ts'
import { TenantLanePool } from './tenant-lanes.ts'
import { PrismaClient } from './generated/client.ts'

export { Prisma, PrismaClient } from './generated/client.ts'

export interface PostgresPoolOptions {
  url: string
  poolMax: number
  connectTimeoutMs: number
  statementTimeoutMs: number
}

// How much longer than statement_timeout a query may go unanswered before its connection counts as lost:
// a live server cancels a slow statement itself and says so well within this.
export const ANSWER_MARGIN_MS = 2000

/**
 * The pool runs tenant units of work as lanes (tenant-lanes.ts).
 * Query events are opt-in: tests count SQL statements with them, production does not pay for them.
 * The pool is ours, not the adapter's, so its use can be measured; whoever closes the client ends it.
 */
export function createPostgresClient(
  options: PostgresPoolOptions,
  { emitQueryEvents = false } = {},
): { prisma: PrismaClient; pool: TenantLanePool } {
  // The longest a statement may run and be answered; a unit of work (a lane) may hold its connection as long, so
  // raising DATABASE_STATEMENT_TIMEOUT_MS never leaves requests cut off by a shorter, fixed transaction bound.
  const answerBoundMs = options.statementTimeoutMs + ANSWER_MARGIN_MS
  const pool = new TenantLanePool(
    {
      connectionString: options.url,
      max: options.poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'gatehouse-api',
      Client: boundedPgClient(answerBoundMs),
    },
    answerBoundMs,
  )
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    log: emitQueryEvents ? [{ emit: 'event', level: 'query' }] : [],
  })
  return { prisma, pool }
}

export function createPgliteClient(db: PGlite, { emitQueryEvents = false } = {}): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPGlite(db),
    log: emitQueryEvents ? [{ emit: 'event', level: 'query' }] : [],
  })
}
