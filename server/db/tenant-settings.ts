// Operator changes to a tenant (its plan, its own hostnames), as the owner over raw SQL, for the npm scripts.
// Writes to tenant_domains set the tenant for the transaction: FORCE ROW LEVEL SECURITY holds for the owner too.
import { checkHostname } from '../../common/hostname.ts'
import type { Plan } from '../../common/plans.ts'
import { DOMAIN_CLAIM_TURN_SQL, MAX_DOMAINS_PER_TENANT } from '../services/domains.ts'
import type { SqlSession } from './sql-session.ts'
import { TenantNotFoundError } from './tenant-data.ts'

/** A refusal worth saying as it is (taken name, bad name, nothing to remove): nothing was changed. */
export class TenantSettingError extends Error {}

async function tenantId(session: SqlSession, slug: string): Promise<string> {
  const [row] = await session.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [slug])
  if (row === undefined) throw new TenantNotFoundError(slug)
  return row.id
}

/** Sets a tenant's plan; returns the plan it had. */
export async function setTenantPlan(session: SqlSession, slug: string, plan: Plan): Promise<Plan> {
  const [row] = await session.query<{ previous: Plan }>(
    `UPDATE tenants t SET plan = $2::tenant_plan
       FROM (SELECT id, plan AS previous FROM tenants WHERE slug = $1 FOR UPDATE) o
      WHERE t.id = o.id RETURNING o.previous::text AS previous`,
    [slug, plan],
  )
  if (row === undefined) throw new TenantNotFoundError(slug)
  return row.previous
}

export function validHostnameOrRefuse(input: string): string {
  const check = checkHostname(input)
  if (!check.ok) throw new TenantSettingError(`"${input.slice(0, 100)}" ${check.reason}`)
  return check.hostname
}

async function asTenant<T>(session: SqlSession, id: string, work: () => Promise<T>): Promise<T> {
  await session.exec('BEGIN')
  try {
    await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [id])
    const result = await work()
    await session.exec('COMMIT')
    return result
  } catch (error) {
    await session.exec('ROLLBACK')
    throw error
  }
}

/** Claims a hostname for a tenant; returns its stored spelling. */
export async function addTenantDomain(session: SqlSession, slug: string, input: string): Promise<string> {
  const hostname = validHostnameOrRefuse(input)
  const id = await tenantId(session, slug)
  return asTenant(session, id, async () => {
    await session.query(DOMAIN_CLAIM_TURN_SQL, [id])
    const [count] = await session.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tenant_domains WHERE tenant_id = $1',
      [id],
    )
    if ((count?.n ?? 0) >= MAX_DOMAINS_PER_TENANT) {
      throw new TenantSettingError(`tenant "${slug}" has ${MAX_DOMAINS_PER_TENANT} domains, the most one may have`)
    }
    const inserted = await session.query(
      `INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES (gen_random_uuid(), $1, $2)
       ON CONFLICT (hostname) DO NOTHING RETURNING id`,
      [id, hostname],
    )
    if (inserted.length === 0) {
      throw new TenantSettingError(`${hostname} is already claimed (by this or another tenant)`)
    }
    return hostname
  })
}

/** Gives up a tenant's hostname. */
export async function removeTenantDomain(session: SqlSession, slug: string, input: string): Promise<string> {
  const hostname = validHostnameOrRefuse(input)
  const id = await tenantId(session, slug)
  return asTenant(session, id, async () => {
    const deleted = await session.query(
      'DELETE FROM tenant_domains WHERE tenant_id = $1 AND hostname = $2 RETURNING id',
      [id, hostname],
    )
    if (deleted.length === 0) throw new TenantSettingError(`tenant "${slug}" has no domain ${hostname}`)
    return hostname
  })
}
