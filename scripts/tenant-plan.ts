// npm run tenant:plan -- <slug> <free|pro|enterprise> — changes the plan stored with a tenant; the edge applies it
// within TENANT_FACTS_TTL_SECONDS (it asks the API), without a restart.
import { parseArgs } from 'node:util'
import { migrate } from '../server/db/migrate.ts'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { TenantNotFoundError } from '../server/db/tenant-data.ts'
import { isPlan, PLANS, type Plan } from '../common/plans.ts'
import { setTenantPlan } from '../server/db/tenant-settings.ts'
import { runCli, say, UsageError } from './cli.ts'

const USAGE = `usage: npm run tenant:plan -- <slug> <${PLANS.join('|')}>`

function parse(argv: string[]): { slug: string; plan: Plan } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: {} })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [slug, plan, ...extra] = parsed.positionals
  if (slug === undefined || plan === undefined || extra.length > 0) throw new UsageError(USAGE)
  if (!isPlan(plan)) throw new UsageError(`the plan must be one of ${PLANS.join(', ')} (got "${plan}")`)
  return { slug, plan: plan as Plan }
}

runCli('tenant:plan', async () => {
  const { slug, plan } = parse(process.argv.slice(2))
  const operator = await openOperatorSession(loadOperatorEnv())
  try {
    await migrate(operator.session)
    const previous = await setTenantPlan(operator.session, slug, plan)
    say(
      `tenant ${slug}: plan ${previous} → ${plan} ` +
        '(the edge applies it within TENANT_FACTS_TTL_SECONDS, 5 s by default)',
    )
  } catch (error) {
    if (error instanceof TenantNotFoundError) {
      throw new UsageError(`${error.message} in ${operator.target}; nothing changed`)
    }
    throw error
  } finally {
    await operator.close()
  }
})
