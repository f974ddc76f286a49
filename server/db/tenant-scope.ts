// Tenant isolation, enforced by Postgres: every tenant-owned query runs inside a transaction whose first
// statement sets app.tenant_id, which the row-level-security policies compare against. The setting is
// transaction-local (set_config(…, TRUE)), so it can never leak to the next user of a pooled connection.
// One interactive transaction per unit of work (not one per query): a handler's reads and writes see
// one tenant and one snapshot, and a request costs BEGIN + set_config + its queries + COMMIT.
import { Prisma, type PrismaClient } from './prisma-client.js'

export type TenantTransaction = Prisma.TransactionClient

export interface TenantScopeOptions {
  /** How long one unit of work may hold its connection. */
  timeoutMs?: number
  /** How long to wait for a pooled connection. */
  maxWaitMs?: number
}

export const tenantScope = (options: TenantScopeOptions = {}) => Prisma.defineExtension((client) => {
  const base = client as unknown as PrismaClient
  return client.$extends({
    name: 'tenant-scope',
    client: {
      async $withTenant<T> (tenantId: string, work: (tx: TenantTransaction) => Promise<T>): Promise<T> {
        return base.$transaction(async (tx) => {
          await tx.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, TRUE)`
          return work(tx)
        }, { timeout: options.timeoutMs ?? 10_000, maxWait: options.maxWaitMs ?? 5_000 })
      },
    },
  })
})
