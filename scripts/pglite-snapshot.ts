// npm run db:snapshot — makes the embedded database's snapshots now (npm ci's postinstall runs it), so the first
// `npm run dev` on a fresh clone, and the first tests, load them instead of running initdb and the migrations.
import { readMigrations } from '../server/db/migrate.ts'
import { initdbSnapshot, migratedSnapshot, migratedSnapshotFile, snapshotFile } from '../server/db/pglite-snapshot.ts'
import { runCli, say } from './cli.ts'

runCli('db:snapshot', async () => {
  await initdbSnapshot()
  say(`PGlite initdb snapshot: ${snapshotFile()}`)
  await migratedSnapshot()
  say(`PGlite migrated snapshot: ${migratedSnapshotFile(await readMigrations())}`)
})
