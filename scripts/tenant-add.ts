// npm run tenant:add -- <slug> [--name "Acme Corp"] [--plan free|pro|enterprise]
import { parseArgs } from 'node:util'
import { migrate } from '../server/db/migrate.ts'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { createTenant, TenantExistsError } from '../server/db/seed.ts'
import { runCli, say, UsageError } from './cli.ts'
import { isPlan, PLANS, type Plan } from '../common/plans.ts'

const USAGE = 'usage: npm run tenant:add -- <slug> [--name "Display Name"] [--plan free|pro|enterprise]'
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

function parse(argv: string[]): { slug: string; name: string; plan: Plan } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, plan: { type: 'string', default: 'free' } },
    })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [slug, ...extra] = parsed.positionals
  if (slug === undefined || extra.length > 0) throw new UsageError(USAGE)
  if (!SLUG.test(slug)) {
    throw new UsageError(`"${slug}" is not a valid slug: use 1-63 lowercase letters, digits and inner hyphens`)
  }
  const plan = parsed.values.plan
  if (!isPlan(plan)) {
    throw new UsageError(`--plan must be one of ${PLANS.join(', ')} (got "${plan}")`)
  }
  const name = parsed.values.name ?? slug
  if (name.trim() === '' || name.length > 200) throw new UsageError('--name must be 1 to 200 characters')
  return { slug, name: name.trim(), plan }
}

runCli('tenant:add', async () => {
  const tenant = parse(process.argv.slice(2))
  const operator = await openOperatorSession(loadOperatorEnv())
  try {
    await migrate(operator.session)
    const id = await createTenant(operator.session, tenant)
    say(`created tenant ${tenant.slug} (${tenant.name}, plan ${tenant.plan}) with id ${id}`)
  } catch (error) {
    if (error instanceof TenantExistsError) {
      throw new UsageError(`tenant "${tenant.slug}" already exists; nothing changed`)
    }
    throw error
  } finally {
    await operator.close()
  }
})
