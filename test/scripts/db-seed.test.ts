// npm run db:seed: the demo tenants acme and globex with their projects and tasks, once however often it runs.
import t from 'tap'
import { forEachTarget, runScript } from './run-script.ts'

forEachTarget(t, async (t, target) => {
  t.test('creates acme and globex on an empty database, then changes nothing', async t => {
    // The owner on both targets is a superuser, which RLS does not restrict: these counts span all tenants.
    const demo = () =>
      target.query(
        `SELECT s.slug, s.plan::text,
              (SELECT count(*)::int FROM projects p WHERE p.tenant_id = s.id) AS projects,
              (SELECT count(*)::int FROM tasks k WHERE k.tenant_id = s.id) AS tasks
         FROM tenants s ORDER BY s.slug`,
      )
    const first = await runScript('db-seed', [], target.env)
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, /: created demo tenants acme, globex\n$/)
    const seeded = await demo()
    // server/db/seed.ts: acme (pro) has two projects with 3 + 1 tasks, globex (free) one project with 2.
    t.same(seeded, [
      { slug: 'acme', plan: 'pro', projects: 2, tasks: 4 },
      { slug: 'globex', plan: 'free', projects: 1, tasks: 2 },
    ])

    const second = await runScript('db-seed', [], target.env)
    t.equal(second.code, 0, second.stderr)
    t.match(second.stdout, /: demo tenants already present\n$/)
    t.same(await demo(), seeded)
  })
})
