// npm run tenant:plan, domain:add and domain:remove: change what is stored with a tenant as the owner, refuse bad
// input with exit 64 and a message saying what is wrong, and change nothing then.
import t from 'tap'
import { forEachTarget, runScript } from './run-script.ts'

// About twenty commands, each a process migrating its database first: slow on a busy machine.
t.setTimeout(480_000)

forEachTarget(t, async (t, target) => {
  t.test('tenant:plan changes the stored plan and says what it was', async t => {
    t.equal((await runScript('tenant-add', ['plans', '--plan', 'free'], target.env)).code, 0)
    const changed = await runScript('tenant-plan', ['plans', 'pro'], target.env)
    t.equal(changed.code, 0, changed.stderr)
    t.match(changed.stdout, /^tenant plans: plan free → pro \(the edge applies it within TENANT_FACTS_TTL_SECONDS/)
    t.same(await target.query("SELECT plan::text FROM tenants WHERE slug = 'plans'"), [{ plan: 'pro' }])
    const missing = await runScript('tenant-plan', ['nobody', 'pro'], target.env)
    t.equal(missing.code, 64)
    t.match(missing.stderr, /^tenant:plan: no tenant "nobody" in .*; nothing changed\n$/)
  })

  t.test('domain:add claims a name once, domain:remove gives it up', async t => {
    t.equal((await runScript('tenant-add', ['shop'], target.env)).code, 0)
    t.equal((await runScript('tenant-add', ['rival'], target.env)).code, 0)
    const added = await runScript('tenant-domain', ['shop', 'Shop.Example.COM'], target.env)
    t.equal(added.code, 0, added.stderr)
    t.equal(added.stdout, 'tenant shop: added domain shop.example.com; point its DNS at the edge\n')
    const taken = await runScript('tenant-domain', ['rival', 'shop.example.com'], target.env)
    t.equal(taken.code, 64)
    t.match(taken.stderr, /^domain:add: shop\.example\.com is already claimed .*; nothing changed\n$/)
    t.same(
      await target.query(`SELECT t.slug FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id
      WHERE d.hostname = 'shop.example.com'`),
      [{ slug: 'shop' }],
    )
    const wrongTenant = await runScript('tenant-domain', ['--remove', 'rival', 'shop.example.com'], target.env)
    t.equal(wrongTenant.code, 64)
    t.match(wrongTenant.stderr, /^domain:remove: tenant "rival" has no domain shop\.example\.com/)
    const removed = await runScript('tenant-domain', ['--remove', 'shop', 'shop.example.com'], target.env)
    t.equal(removed.code, 0, removed.stderr)
    t.equal(removed.stdout, 'tenant shop: removed domain shop.example.com\n')
    t.same(await target.query("SELECT hostname FROM tenant_domains WHERE hostname = 'shop.example.com'"), [])
  })
})

t.test('bad arguments exit 64 saying what is wrong, before any database is opened', async t => {
  const env = { DATABASE_OWNER_URL: 'postgresql://nobody@127.0.0.1:1/none' }
  const cases: Array<[string, string[], RegExp]> = [
    ['tenant-plan', ['acme'], /^tenant:plan: usage: npm run tenant:plan -- <slug> <free\|pro\|enterprise>\n$/],
    ['tenant-plan', ['acme', 'gold'], /^tenant:plan: the plan must be one of free, pro, enterprise \(got "gold"\)\n$/],
    ['tenant-domain', ['acme'], /^domain:add: usage: npm run domain:add -- <tenant> <hostname>\n$/],
    ['tenant-domain', ['--remove', 'acme'], /^domain:remove: usage: npm run domain:remove -- <tenant> <hostname>\n$/],
    ['tenant-domain', ['acme', '*.acme.com'], /^domain:add: "\*\.acme\.com" is a wildcard/],
    ['tenant-domain', ['acme', 'nas.local'], /is a local-only name/],
    ['tenant-domain', ['acme', 'x.example.com', '--remove'], /^domain:add: Unknown option '--remove'/],
  ]
  const results = await Promise.all(cases.map(([script, args]) => runScript(script, args, env)))
  cases.forEach(([script, args, message], index) => {
    t.equal(results[index]!.code, 64, `${script} ${JSON.stringify(args)}`)
    t.match(results[index]!.stderr, message)
  })
})
