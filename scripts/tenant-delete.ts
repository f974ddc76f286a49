// npm run tenant:delete -- <slug> --yes — removes the tenant and every row it owns in one transaction, as the
// owner, and prints what it deleted. Irreversible (short of a restore): export first with tenant:export.
import { parseArgs } from 'node:util'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { deleteTenant, TenantNotFoundError } from '../server/db/tenant-data.ts'
import { runCli, say, UsageError } from './cli.ts'

const USAGE = 'usage: npm run tenant:delete -- <slug> --yes'

function parse(argv: string[]): { slug: string } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { yes: { type: 'boolean', default: false } } })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [slug, ...extra] = parsed.positionals
  if (slug === undefined || extra.length > 0) throw new UsageError(USAGE)
  if (!parsed.values.yes) {
    throw new UsageError(
      `this permanently deletes tenant "${slug}" and all its projects and tasks; ` +
        `export them first (npm run tenant:export -- ${slug} --out FILE), then confirm with --yes. Nothing was deleted.`,
    )
  }
  return { slug }
}

runCli('tenant:delete', async () => {
  const { slug } = parse(process.argv.slice(2))
  const operator = await openOperatorSession(loadOperatorEnv())
  try {
    const result = await deleteTenant(operator.session, slug)
    say(
      `deleted tenant ${slug} (${result.id}) from ${operator.target}: ` +
        Object.entries(result.deleted)
          .map(([table, count]) => `${count} ${table}`)
          .join(', '),
    )
  } catch (error) {
    if (error instanceof TenantNotFoundError) {
      throw new UsageError(`${error.message} in ${operator.target}; nothing was deleted`)
    }
    throw error
  } finally {
    await operator.close()
  }
})
