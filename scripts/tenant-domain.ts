// npm run domain:add -- <tenant> <hostname> — claims a hostname for a tenant (requests on it then belong to it).
// npm run domain:remove -- <tenant> <hostname> — gives it up. One script, the command named by --remove.
import { parseArgs } from 'node:util'
import { migrate } from '../server/db/migrate.ts'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { TenantNotFoundError } from '../server/db/tenant-data.ts'
import {
  addTenantDomain,
  removeTenantDomain,
  TenantSettingError,
  validHostnameOrRefuse,
} from '../server/db/tenant-settings.ts'
import { runCli, say, UsageError } from './cli.ts'

// `--remove` comes first, as the domain:remove script writes it; anywhere else it is an unknown option, so that
// `npm run domain:add -- acme x.com --remove` is refused rather than removing.
const removing = process.argv[2] === '--remove'
const command = removing ? 'domain:remove' : 'domain:add'
const USAGE = `usage: npm run ${command} -- <tenant> <hostname>`

function parse(argv: string[]): { slug: string; hostname: string } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: {} })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [slug, hostname, ...extra] = parsed.positionals
  if (slug === undefined || hostname === undefined || extra.length > 0) throw new UsageError(USAGE)
  try {
    validHostnameOrRefuse(hostname) // before any database is opened
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  return { slug, hostname }
}

runCli(command, async () => {
  const { slug, hostname } = parse(process.argv.slice(removing ? 3 : 2))
  const operator = await openOperatorSession(loadOperatorEnv())
  try {
    await migrate(operator.session)
    if (removing) {
      const removed = await removeTenantDomain(operator.session, slug, hostname)
      say(`tenant ${slug}: removed domain ${removed}`)
    } else {
      const added = await addTenantDomain(operator.session, slug, hostname)
      say(`tenant ${slug}: added domain ${added}; point its DNS at the edge`)
    }
  } catch (error) {
    if (error instanceof TenantNotFoundError || error instanceof TenantSettingError) {
      throw new UsageError(`${error.message} in ${operator.target}; nothing changed`)
    }
    throw error
  } finally {
    await operator.close()
  }
})
