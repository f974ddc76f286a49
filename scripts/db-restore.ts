// npm run db:restore -- <manifest.json> [--force] — checks the dump against its manifest, restores it into
// DATABASE_OWNER_URL's (empty) database, then proves the row counts, migrations, row-level security and the
// app role's privileges are those the manifest recorded. Postgres only.
import { parseArgs } from 'node:util'
import { loadBackupEnv, restore, TargetNotEmptyError } from '../server/db/backup.ts'
import { runCli, say, UsageError } from './cli.ts'

const USAGE = 'usage: npm run db:restore -- <backup.manifest.json> [--force]'

function parse(argv: string[]): { manifestPath: string; force: boolean } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { force: { type: 'boolean', default: false } } })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [manifestPath, ...extra] = parsed.positionals
  if (manifestPath === undefined || extra.length > 0) throw new UsageError(USAGE)
  if (!manifestPath.endsWith('.json')) {
    throw new UsageError(`give the backup's manifest (….manifest.json), not "${manifestPath}"\n${USAGE}`)
  }
  return { manifestPath, force: parsed.values.force }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

runCli('db:restore', async () => {
  const { manifestPath, force } = parse(process.argv.slice(2))
  const env = loadBackupEnv('db:restore', process.env)
  try {
    const result = await restore(env, manifestPath, force)
    const { manifest, timings } = result
    const rows = Object.values(manifest.tables).reduce((sum, count) => sum + count, 0)
    if (result.appRoleCreated) say(`created role ${manifest.appRole} (it is cluster-wide, so not in the dump)`)
    if (result.replaced > 0) say(`--force: replaced the backup's objects in a database that held ${result.replaced}`)
    say(
      `restored ${manifest.database} (backup of ${manifest.createdAt}) into ${result.database}: ` +
        `${Object.keys(manifest.tables).length} tables, ${rows} rows; counts, migrations, row-level security and ${manifest.appRole}'s privileges verified`,
    )
    say(
      `times: checksum ${seconds(timings.checksumMs)}, pg_restore ${seconds(timings.restoreMs)}, ` +
        `analyze ${seconds(timings.analyzeMs)}, verify ${seconds(timings.verifyMs)}`,
    )
    if (result.passwordSet) say(`set the password of role ${manifest.appRole} from DATABASE_URL`)
  } catch (error) {
    if (error instanceof TargetNotEmptyError) throw new UsageError(`${error.message}; nothing changed`)
    throw error
  }
})
