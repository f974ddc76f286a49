// npm run tenant:add: creates a tenant as the owner, refuses a taken slug with exit 64 (EX_USAGE) and
// changes nothing, and rejects bad input before it touches any database.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openEmbedded } from '../../server/db/embedded.ts'
import { forEachTarget, runScript } from './run-script.ts'

forEachTarget(t, async (t, target) => {
  t.test('creates a tenant, then refuses the same slug and leaves it as it was', async t => {
    const created = await runScript('tenant-add', ['shop-1', '--name', 'Shop One', '--plan', 'pro'], target.env)
    t.equal(created.code, 0, created.stderr)
    const id = /^created tenant shop-1 \(Shop One, plan pro\) with id ([0-9a-f-]{36})$/m.exec(created.stdout)?.[1]
    t.ok(id, created.stdout)
    t.same(await target.query("SELECT id::text, name, plan::text FROM tenants WHERE slug = 'shop-1'"), [
      { id, name: 'Shop One', plan: 'pro' },
    ])

    const again = await runScript('tenant-add', ['shop-1', '--name', 'Impostor', '--plan', 'enterprise'], target.env)
    t.equal(again.code, 64)
    t.equal(again.stderr, 'tenant:add: tenant "shop-1" already exists; nothing changed\n')
    t.equal(again.stdout, '')
    t.same(await target.query("SELECT id::text, name, plan::text FROM tenants WHERE slug = 'shop-1'"), [
      { id, name: 'Shop One', plan: 'pro' },
    ])
  })

  t.test('the name defaults to the slug and the plan to free', async t => {
    const created = await runScript('tenant-add', ['plain'], target.env)
    t.equal(created.code, 0, created.stderr)
    t.same(await target.query("SELECT name, plan::text FROM tenants WHERE slug = 'plain'"), [
      { name: 'plain', plan: 'free' },
    ])
  })
})

t.test(
  'bad arguments are refused with exit 64 and a message saying what is wrong, before any database is opened',
  async t => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-tenant-add-'))
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    const cases: Array<[string[], RegExp]> = [
      [
        ['Shop_1'],
        /^tenant:add: "Shop_1" is not a valid slug: use 1-63 lowercase letters, digits and inner hyphens\n$/,
      ],
      [['shop-'], /"shop-" is not a valid slug/],
      [['a'.repeat(64)], /is not a valid slug/],
      [['shop', '--plan', 'gold'], /^tenant:add: --plan must be one of free, pro, enterprise \(got "gold"\)\n$/],
      [['shop', '--name', '   '], /--name must be 1 to 200 characters/],
      [['shop', '--name', 'x'.repeat(201)], /--name must be 1 to 200 characters/],
      [['shop', '--colour', 'red'], /Unknown option '--colour'[\s\S]*usage: npm run tenant:add -- <slug>/],
      [[], /^tenant:add: usage: npm run tenant:add -- <slug>/],
      [['one', 'two'], /^tenant:add: usage: /],
    ]
    // None of them opens the database, so they may run side by side.
    const results = await Promise.all(cases.map(([args]) => runScript('tenant-add', args, { DATA_DIR: dataDir })))
    cases.forEach(([args, message], index) => {
      t.equal(results[index]!.code, 64, `exit 64 for ${JSON.stringify(args)}`)
      t.match(results[index]!.stderr, message)
    })
    t.notOk(existsSync(join(dataDir, 'pglite')), 'no database was created')
  },
)

t.test('a bad database setting exits 78 naming it, without echoing the URL', async t => {
  const result = await runScript('tenant-add', ['shop'], { DATABASE_OWNER_URL: 'mysql://root:hunter2@db/shop' })
  t.equal(result.code, 78)
  t.match(result.stderr, /^tenant:add: Invalid configuration:\n {2}- DATABASE_OWNER_URL: /)
  t.notMatch(result.stderr, /hunter2/)
})

t.test('an embedded database in use by another process is reported, not corrupted', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-tenant-add-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const embedded = await openEmbedded(join(dataDir, 'pglite'))
  t.teardown(() => embedded.close())
  const result = await runScript('tenant-add', ['shop'], { DATA_DIR: dataDir })
  t.equal(result.code, 1)
  t.match(
    result.stderr,
    `is open in process ${process.pid}. PGlite allows one process at a time: stop that process first`,
  )
  t.same((await embedded.db.query('SELECT slug FROM tenants')).rows, [])
})
