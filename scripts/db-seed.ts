// npm run db:seed — creates the demo tenants acme and globex with a few projects and tasks (idempotent).
import { migrate } from '../server/db/migrate.ts'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { seedDemoData } from '../server/db/seed.ts'
import { runCli, say } from './cli.ts'

runCli('db:seed', async () => {
  const operator = await openOperatorSession(loadOperatorEnv())
  try {
    await migrate(operator.session)
    const created = await seedDemoData(operator.session)
    say(
      created.length > 0
        ? `${operator.target}: created demo tenants ${created.join(', ')}`
        : `${operator.target}: demo tenants already present`,
    )
  } finally {
    await operator.close()
  }
})
