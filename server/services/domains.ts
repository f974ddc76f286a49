// A tenant's own hostnames, shared by REST and GraphQL: list, add, remove under the tenant's row-level
// security, and the one cross-tenant question the edge asks (who owns this exact name) through a narrow function.
import type { TenantDomain } from '../db/generated/client.ts'
import { classifyDatabaseError } from '../db/database-errors.ts'
import { Errors } from '../../common/problem.ts'
import type { AppDatabaseClient } from '../plugins/database.ts'
import type { DomainDto } from '../schemas/domain.ts'
import { checkHostname } from '../../common/hostname.ts'
import { isoTimestamp } from './iso-timestamp.ts'

/** Enough for any real tenant; a cap so one tenant cannot make the edge's lookups or ACME orders unbounded. */
export const MAX_DOMAINS_PER_TENANT = 50

/**
 * Taken before counting a tenant's domains, by every path that claims one (the API and `domain:add`): claims of
 * one tenant take turns until each commits, since two counting at once would both see room for one more.
 */
export const DOMAIN_CLAIM_TURN_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('tenant-domains:' || $1, 0))"

export function validHostname(input: string): string {
  const check = checkHostname(input)
  if (!check.ok) throw new Errors.InvalidInput(`hostname "${input.slice(0, 100)}" ${check.reason}`)
  return check.hostname
}

const toDomainDto = (domain: TenantDomain): DomainDto => ({
  id: domain.id,
  hostname: domain.hostname,
  createdAt: isoTimestamp(domain.createdAt),
})

export function createDomainService(db: AppDatabaseClient) {
  return {
    async list(tenantId: string): Promise<DomainDto[]> {
      const rows = await db.$withTenant(tenantId, tx =>
        tx.tenantDomain.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
      )
      return rows.map(toDomainDto)
    },

    async add(tenantId: string, input: string): Promise<DomainDto> {
      const hostname = validHostname(input)
      const domain = await db
        .$withTenant(tenantId, async tx => {
          await tx.$executeRawUnsafe(DOMAIN_CLAIM_TURN_SQL, tenantId)
          if ((await tx.tenantDomain.count()) >= MAX_DOMAINS_PER_TENANT) {
            throw new Errors.Conflict(`A tenant may have at most ${MAX_DOMAINS_PER_TENANT} domains; remove one first`)
          }
          return tx.tenantDomain.create({ data: { tenantId, hostname } })
        })
        .catch((error: unknown) => {
          // The name is unique across tenants: whoever holds it, it is not free (and which tenant is not said).
          if (classifyDatabaseError(error).kind === 'conflict') {
            throw new Errors.Conflict(`The hostname ${hostname} is already claimed`)
          }
          throw error
        })
      return toDomainDto(domain)
    },

    async get(tenantId: string, input: string): Promise<DomainDto> {
      const hostname = validHostname(input)
      const domain = await db.$withTenant(tenantId, tx => tx.tenantDomain.findFirst({ where: { hostname } }))
      if (domain === null) throw new Errors.NotFound('Domain')
      return toDomainDto(domain)
    },

    async remove(tenantId: string, input: string): Promise<void> {
      const hostname = validHostname(input)
      const { count } = await db.$withTenant(tenantId, tx => tx.tenantDomain.deleteMany({ where: { hostname } }))
      if (count === 0) throw new Errors.NotFound('Domain')
    },

    /** The tenant that owns this hostname (as a request names it), or null; for the edge, across tenants. */
    async owner(hostname: string): Promise<{ tenantId: string; slug: string } | null> {
      const check = checkHostname(hostname)
      if (!check.ok) return null
      const rows = await db.$queryRaw<Array<{ tenant_id: string; slug: string }>>`
        SELECT tenant_id, slug FROM tenant_domain_owner(${check.hostname})`
      return rows[0] !== undefined ? { tenantId: rows[0].tenant_id, slug: rows[0].slug } : null
    },
  }
}

export type DomainService = ReturnType<typeof createDomainService>
