// npm run tenant:export / tenant:delete on the embedded database and on Postgres: the export holds exactly one
// tenant's rows, every column; delete needs --yes, removes exactly that tenant's rows and leaves the other's as they
// were.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { forEachTarget, runScript, type Target } from './run-script.ts'

type Row = Record<string, unknown> & { id: string; tenant_id?: string }
interface Snapshot {
  tenants: Row[]
  projects: Row[]
  tasks: Row[]
}

// One query per snapshot: on PGlite each query opens the database anew.
const snapshot = async (target: Target): Promise<Snapshot> => {
  const [row] = await target.query<{ data: Snapshot }>(`SELECT json_build_object(
      'tenants', (SELECT coalesce(json_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM tenants x),
      'projects', (SELECT coalesce(json_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM projects x),
      'tasks', (SELECT coalesce(json_agg(to_jsonb(x) ORDER BY x.id), '[]') FROM tasks x)) AS data`)
  return row!.data
}

const byId = (rows: Row[]): Row[] => [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
const ownedBy = (rows: Row[], tenantId: string): Row[] => rows.filter(row => row.tenant_id === tenantId)

forEachTarget(t, async (t, target) => {
  // The demo data through the real CLI: acme (2 projects, 4 tasks) and globex (1 project, 2 tasks).
  const seeded = await runScript('db-seed', [], target.env)
  t.equal(seeded.code, 0, seeded.stderr)
  const before = await snapshot(target)
  const acme = before.tenants.find(tenant => tenant.slug === 'acme')!
  const globex = before.tenants.find(tenant => tenant.slug === 'globex')!
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-tenant-export-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  t.test("export writes exactly the tenant's rows, every column, as JSON on stdout", async t => {
    const result = await runScript('tenant-export', ['acme'], target.env)
    t.equal(result.code, 0, result.stderr)
    t.equal(result.stderr, `exported tenant acme (${acme.id}): 0 tenant_domains, 2 projects, 4 tasks\n`)
    const exported = JSON.parse(result.stdout)
    t.equal(exported.format, 'gatehouse-tenant-export')
    t.same(exported.tenant, acme)
    t.same(Object.keys(exported.tables).sort(), ['projects', 'tasks', 'tenant_domains'])
    t.strictSame(byId(exported.tables.projects), ownedBy(before.projects, acme.id))
    t.strictSame(byId(exported.tables.tasks), ownedBy(before.tasks, acme.id))
    t.notMatch(result.stdout, globex.id, 'nothing of the other tenant')
  })

  t.test('export --out writes an owner-only file and never overwrites one', async t => {
    const file = join(dir, 'globex.json')
    const result = await runScript('tenant-export', ['globex', '--out', file], target.env)
    t.equal(result.code, 0, result.stderr)
    t.equal(result.stdout, `exported tenant globex (${globex.id}): 0 tenant_domains, 1 projects, 2 tasks to ${file}\n`)
    const exported = JSON.parse(await readFile(file, 'utf8'))
    t.strictSame(byId(exported.tables.tasks), ownedBy(before.tasks, globex.id))
    t.equal((await stat(file)).mode & 0o777, 0o600)

    const again = await runScript('tenant-export', ['globex', '--out', file], target.env)
    t.equal(again.code, 64)
    t.equal(again.stderr, `tenant:export: ${file} already exists; choose another file\n`)
    t.strictSame(JSON.parse(await readFile(file, 'utf8')), exported, 'the earlier export is intact')
  })

  t.test('an unknown tenant exits 64', async t => {
    const exported = await runScript('tenant-export', ['nobody'], target.env)
    t.equal(exported.code, 64)
    t.match(exported.stderr, /^tenant:export: no tenant "nobody" in /)
    t.equal(exported.stdout, '')
    const deleted = await runScript('tenant-delete', ['nobody', '--yes'], target.env)
    t.equal(deleted.code, 64)
    t.match(deleted.stderr, /^tenant:delete: no tenant "nobody" in .*; nothing was deleted\n$/)
  })

  t.test('delete without --yes explains and deletes nothing', async t => {
    const result = await runScript('tenant-delete', ['acme'], target.env)
    t.equal(result.code, 64)
    t.equal(
      result.stderr,
      'tenant:delete: this permanently deletes tenant "acme" and all its projects and tasks; ' +
        'export them first (npm run tenant:export -- acme --out FILE), then confirm with --yes. Nothing was deleted.\n',
    )
    t.strictSame(await snapshot(target), before)
  })

  t.test("delete --yes removes exactly that tenant's rows and leaves the other's untouched", async t => {
    const result = await runScript('tenant-delete', ['acme', '--yes'], target.env)
    t.equal(result.code, 0, result.stderr)
    t.match(
      result.stdout,
      new RegExp(`^deleted tenant acme \\(${acme.id}\\) from .*: 1 tenants, 4 tasks, 2 projects, 0 tenant_domains\\n$`),
    )
    const after = await snapshot(target)
    t.strictSame(after.tenants, [globex])
    t.strictSame(after.projects, ownedBy(before.projects, globex.id))
    t.strictSame(after.tasks, ownedBy(before.tasks, globex.id))
  })

  t.test('bad arguments exit 64 with the usage', async t => {
    const results = await Promise.all([
      runScript('tenant-export', [], target.env),
      runScript('tenant-export', ['a', 'b'], target.env),
      runScript('tenant-delete', ['--yes'], target.env),
      runScript('tenant-delete', ['globex', '--force'], target.env),
    ])
    for (const result of results) t.equal(result.code, 64)
    t.match(results[0]!.stderr, /^tenant:export: usage: npm run tenant:export -- <slug> \[--out FILE\]/)
    t.match(results[2]!.stderr, /^tenant:delete: usage: npm run tenant:delete -- <slug> --yes\n$/)
    t.match(results[3]!.stderr, /Unknown option '--force'/)
  })
})
