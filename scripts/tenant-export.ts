// npm run tenant:export -- <slug> [--out FILE] — the tenant's record and every row it owns (projects, tasks, and
// any later table with a tenant_id) as one JSON document, read as the owner in one snapshot.
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { loadOperatorEnv, openOperatorSession } from '../server/db/operator-session.ts'
import { exportTenant, TenantNotFoundError } from '../server/db/tenant-data.ts'
import { runCli, say, UsageError } from './cli.ts'

const USAGE = 'usage: npm run tenant:export -- <slug> [--out FILE]   (default: JSON on stdout)'

function parse(argv: string[]): { slug: string; out: string | undefined } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' } } })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`)
  }
  const [slug, ...extra] = parsed.positionals
  if (slug === undefined || extra.length > 0) throw new UsageError(USAGE)
  if (parsed.values.out?.trim() === '') throw new UsageError(`--out must name a file\n${USAGE}`)
  return { slug, out: parsed.values.out }
}

runCli('tenant:export', async () => {
  const { slug, out } = parse(process.argv.slice(2))
  const operator = await openOperatorSession(loadOperatorEnv())
  let exported
  try {
    exported = await exportTenant(operator.session, slug)
  } catch (error) {
    if (error instanceof TenantNotFoundError) throw new UsageError(`${error.message} in ${operator.target}`)
    throw error
  } finally {
    await operator.close()
  }
  const json = `${JSON.stringify(exported, null, 2)}\n`
  const summary =
    `exported tenant ${slug} (${exported.tenant.id as string}): ` +
    Object.entries(exported.tables)
      .map(([table, rows]) => `${rows.length} ${table}`)
      .join(', ')
  if (out === undefined) {
    process.stdout.write(json)
    // stdout carries the document; the summary must not end up in it.
    process.stderr.write(`${summary}\n`)
    return
  }
  try {
    // Never overwrite: the file may be an earlier export someone still needs. Personal data: owner-only.
    await writeFile(out, json, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(`${out} already exists; choose another file`)
    }
    throw error
  }
  say(`${summary} to ${out}`)
})
