// npm run db:backup -- [--out-dir DIR] — pg_dump (custom format) of DATABASE_OWNER_URL's database plus a manifest
// with row counts, migrations, row-level security and the dump's sha256. Postgres only.
import { parseArgs } from 'node:util'
import { backup, loadBackupEnv } from '../server/db/backup.ts'
import { runCli, say, UsageError } from './cli.ts'

const USAGE = 'usage: npm run db:backup -- [--out-dir DIR]   (default .data/backups)'

function parse(argv: string[]): { outDir: string } {
  try {
    const { values } = parseArgs({ args: argv, options: { 'out-dir': { type: 'string', default: '.data/backups' } } })
    if (values['out-dir'].trim() === '') throw new Error('--out-dir must not be empty')
    return { outDir: values['out-dir'] }
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
}

runCli('db:backup', async () => {
  const { outDir } = parse(process.argv.slice(2))
  const { manifest, dumpPath, manifestPath } = await backup(loadBackupEnv('db:backup', process.env), outDir)
  const rows = Object.values(manifest.tables).reduce((sum, count) => sum + count, 0)
  say(
    `backed up ${manifest.database}: ${Object.keys(manifest.tables).length} tables, ${rows} rows, ` +
      `${manifest.migrations.length} migrations in ${(manifest.durationMs / 1000).toFixed(2)} s`,
  )
  say(`dump: ${dumpPath} (${manifest.dump.bytes} bytes, sha256 ${manifest.dump.sha256})`)
  say(`manifest: ${manifestPath}`)
})
