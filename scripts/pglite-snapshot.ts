// npm run db:snapshot — makes the embedded database's initdb snapshot now (npm ci's postinstall runs it), so the
// first `npm run dev` on a fresh clone, and the first tests, load it instead of running initdb.
import { initdbSnapshot, snapshotFile } from '../server/db/pglite-snapshot.js'
import { runCli, say } from './cli.js'

runCli('db:snapshot', async () => {
  await initdbSnapshot()
  say(`PGlite initdb snapshot: ${snapshotFile()}`)
})
