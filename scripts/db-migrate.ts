// npm run db:migrate — applies pending migrations from prisma/migrations as the table owner.
import { APP_ROLE } from '../server/db/embedded.ts'
import { migrate } from '../server/db/migrate.ts'
import { loadOperatorEnv, openOperatorSession, syncAppRolePassword } from '../server/db/operator-session.ts'
import { runCli, say } from './cli.ts'

runCli('db:migrate', async () => {
  const env = loadOperatorEnv()
  const operator = await openOperatorSession(env)
  try {
    const result = await migrate(operator.session)
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`)
    for (const name of result.applied) say(`applied ${name}`)
    say(`${operator.target}: ${result.applied.length} applied, ${result.alreadyApplied.length} already applied`)
    if (await syncAppRolePassword(operator.session, env.DATABASE_URL, APP_ROLE)) {
      say(`set the password of role ${APP_ROLE} from DATABASE_URL`)
    }
  } finally {
    await operator.close()
  }
})
