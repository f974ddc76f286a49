// Tenant isolation, enforced by Postgres: every tenant-owned query runs inside a transaction whose first
// statement sets app.tenant_id, which the row-level-security policies compare against. The setting is
// transaction-local (set_config(…, TRUE)), so it can never leak to the next user of a pooled connection.
// One transaction per unit of work (not one per query): a handler's reads and writes see one tenant and one
// snapshot. On Postgres the transaction is a lane of the pool (tenant-lanes.ts: BEGIN and set_config travel
// with the first statement, then COMMIT); on PGlite, Prisma's interactive transaction.
import { Prisma, type PrismaClient } from './prisma-client.ts'
import type { TenantLanePool } from './tenant-lanes.ts'

export type TenantTransaction = Prisma.TransactionClient

export interface TenantScopeOptions {
  /** How long one unit of work may hold its connection. */
  timeoutMs?: number
  /** How long to wait for a pooled connection (interactive transactions; a lane waits as its pool does). */
  maxWaitMs?: number
}

/** A unit of work as Prisma's interactive transaction: BEGIN, set_config, the work's statements, COMMIT. */
export const interactiveTenantScope = (options: TenantScopeOptions = {}) =>
  Prisma.defineExtension(client => {
    const base = client as unknown as PrismaClient
    return client.$extends({
      name: 'tenant-scope',
      client: {
        async $withTenant<T>(tenantId: string, work: (tx: TenantTransaction) => Promise<T>): Promise<T> {
          return base.$transaction(
            async tx => {
              await tx.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, TRUE)`
              return work(tx)
            },
            { timeout: options.timeoutMs ?? 10_000, maxWait: options.maxWaitMs ?? 5_000 },
          )
        },
      },
    })
  })

const uncapitalise = (model: string): string => model.charAt(0).toLowerCase() + model.slice(1)

/**
 * A unit of work as a lane of the pool. Its statements are made on the client itself, so Prisma must not
 * batch them with another caller's: it merges findUnique calls of the same tick into one query, which would
 * run in the first caller's lane, as that caller's tenant. Here they are findFirst, which Prisma never batches.
 * The services ask for findFirst themselves: rewritten here, a findUnique goes through Prisma's pipeline twice.
 */
export const laneTenantScope = (pool: TenantLanePool) =>
  Prisma.defineExtension(client => {
    type FindFirst = (args: unknown) => Promise<unknown>
    const models = client as unknown as Record<string, { findFirst: FindFirst; findFirstOrThrow: FindFirst }>
    return client.$extends({
      name: 'tenant-scope',
      query: {
        $allModels: {
          findUnique: ({ model, args }) => models[uncapitalise(model)]!.findFirst(args) as never,
          findUniqueOrThrow: ({ model, args }) => models[uncapitalise(model)]!.findFirstOrThrow(args) as never,
        },
      },
      client: {
        async $withTenant<T>(tenantId: string, work: (tx: TenantTransaction) => Promise<T>): Promise<T> {
          const scoped = Prisma.getExtensionContext(this) as unknown as TenantTransaction
          return pool.inLane(tenantId, () => work(scoped))
        },
      },
    })
  })
