// Resolves the tenant named by a verified identity. Tenants change rarely and every request needs one,
// so lookups are cached for a few seconds (a removed tenant stops working within that window).
import type { Plan } from '../../common/plans.ts'
import type { AppDatabaseClient } from '../plugins/database.ts'

export interface TenantRecord {
  id: string
  slug: string
  name: string
  plan: Plan
}

export function createTenantService(db: AppDatabaseClient, { ttlMs = 10_000, maxEntries = 10_000 } = {}) {
  const cache = new Map<string, { tenant: TenantRecord | null; expires: number }>()
  return {
    async resolve(slug: string): Promise<TenantRecord | null> {
      const now = Date.now()
      const hit = cache.get(slug)
      if (hit !== undefined && hit.expires > now) return hit.tenant
      const tenant = await db.tenant.findUnique({
        where: { slug },
        select: { id: true, slug: true, name: true, plan: true },
      })
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string)
      cache.set(slug, { tenant, expires: now + ttlMs })
      return tenant
    },
  }
}

export type TenantService = ReturnType<typeof createTenantService>
