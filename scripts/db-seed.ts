// npm run db:seed — creates the demo tenants acme and globex with a few projects and tasks (idempotent).
import { migrate } from '../server/db/migrate.js'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.js'
import { seedDemoData } from '../server/db/seed.js'
import { runCli, say } from './cli.js'

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
