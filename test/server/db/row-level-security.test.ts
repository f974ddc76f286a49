// Tenant isolation must hold in Postgres itself, not only in the app's where clauses: these tests talk to
// the database as the app role with raw SQL (what an injection or a buggy query could send) and through the
// $withTenant extension the services use, and check the role and tables are set up so nothing bypasses it.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { SqlSession } from '../../../server/db/sql-session.ts'
import { forEachBackend, type Backend } from '../../helpers/backends.ts'

const APP_ROLE = 'gatehouse_app'
const TENANT_OWNED = ['projects', 'tasks', 'tenant_domains']

/**
 * Raw SQL as the app role inside one transaction whose tenant is `tenantId` (null: never set), committed
 * when `work` succeeds. PGlite's asApp already runs in a transaction; a pg connection needs its own.
 */
async function asTenant<T>(
  backend: Backend,
  tenantId: string | null,
  work: (session: SqlSession) => Promise<T>,
): Promise<T> {
  return backend.asApp(async session => {
    const own = backend.name === 'postgres'
    if (own) await session.exec('BEGIN')
    try {
      if (tenantId !== null) await session.query("SELECT set_config('app.tenant_id', $1, TRUE)", [tenantId])
      const result = await work(session)
      if (own) await session.exec('COMMIT')
      return result
    } catch (error) {
      if (own) await session.exec('ROLLBACK')
      throw error
    }
  })
}

interface Seeded {
  tenantId: string
  projectId: string
  taskId: string
}

async function seedTenant(backend: Backend): Promise<Seeded> {
  const { id: tenantId } = await backend.createTenant()
  const projectId = randomUUID()
  const taskId = randomUUID()
  // Written as the app role under the tenant's own id: the allowed path must work.
  await asTenant(backend, tenantId, async session => {
    await session.query('INSERT INTO projects (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
      projectId,
      tenantId,
      'Plans',
    ])
    await session.query(
      'INSERT INTO tasks (id, tenant_id, project_id, title, updated_at) VALUES ($1, $2, $3, $4, now())',
      [taskId, tenantId, projectId, 'Secret task'],
    )
    await session.query('INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES ($1, $2, $3)', [
      randomUUID(),
      tenantId,
      `${tenantId}.example.com`,
    ])
  })
  return { tenantId, projectId, taskId }
}

/** What the owner (who bypasses RLS) sees of a tenant: proof that refused writes changed nothing. */
async function ownerView(
  backend: Backend,
  tenantId: string,
): Promise<Array<{ kind: string; id: string; label: string; tenant_id: string }>> {
  return backend.asOwner(session =>
    session.query(
      `SELECT 'project' AS kind, id::text, name AS label, tenant_id::text FROM projects WHERE tenant_id = $1
     UNION ALL SELECT 'task', id::text, title, tenant_id::text FROM tasks WHERE tenant_id = $1 ORDER BY kind`,
      [tenantId],
    ),
  )
}

const rowCount = async (session: SqlSession, table: string, where = 'TRUE', params: unknown[] = []): Promise<number> =>
  Number((await session.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, params))[0]!.n)

forEachBackend(t, async (t, backend) => {
  t.test('raw SQL as the app role sees only the current tenant', async t => {
    const a = await seedTenant(backend)
    const b = await seedTenant(backend)
    await asTenant(backend, a.tenantId, async session => {
      for (const table of TENANT_OWNED) {
        const rows = await session.query<{ tenant_id: string }>(`SELECT tenant_id::text FROM ${table}`)
        t.ok(rows.length >= 1, `${table}: the tenant's own rows are visible`)
        t.same([...new Set(rows.map(row => row.tenant_id))], [a.tenantId], `${table}: only the tenant's rows`)
        t.equal(
          await rowCount(session, table, 'tenant_id = $1', [b.tenantId]),
          0,
          `${table}: a forged where on another tenant finds nothing`,
        )
      }
      t.equal(await rowCount(session, 'projects', 'id = $1', [b.projectId]), 0, "another tenant's project by id")
      t.equal(await rowCount(session, 'tasks', 'id = $1', [b.taskId]), 0, "another tenant's task by id")
      t.equal(
        await rowCount(session, 'tasks t JOIN projects p ON p.id = t.project_id', 'p.tenant_id = $1', [b.tenantId]),
        0,
        'nor through a join',
      )
    })
  })

  t.test("updating or deleting another tenant's rows by id affects nothing", async t => {
    const a = await seedTenant(backend)
    const b = await seedTenant(backend)
    const before = await ownerView(backend, b.tenantId)
    await asTenant(backend, a.tenantId, async session => {
      t.same(await session.query("UPDATE projects SET name = 'pwned' WHERE id = $1 RETURNING id", [b.projectId]), [])
      t.same(
        await session.query("UPDATE tasks SET title = 'pwned' WHERE tenant_id = $1 RETURNING id", [b.tenantId]),
        [],
      )
      t.same(await session.query('DELETE FROM tasks WHERE id = $1 RETURNING id', [b.taskId]), [])
      t.same(await session.query('DELETE FROM projects WHERE id = $1 RETURNING id', [b.projectId]), [])
      t.same(
        await session.query('DELETE FROM projects WHERE TRUE RETURNING tenant_id::text'),
        [{ tenant_id: a.tenantId }],
        'an unqualified delete reaches only the own tenant',
      )
    })
    t.same(await ownerView(backend, b.tenantId), before, "the other tenant's rows are untouched")
    t.equal(before.length, 2)
  })

  t.test("writing rows into another tenant's name is refused (42501)", async t => {
    const a = await seedTenant(backend)
    const b = await seedTenant(backend)
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query('INSERT INTO projects (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
          randomUUID(),
          b.tenantId,
          'Planted',
        ]),
      ),
      { code: '42501' },
      'insert a project for another tenant',
    )
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query(
          'INSERT INTO tasks (id, tenant_id, project_id, title, updated_at) VALUES ($1, $2, $3, $4, now())',
          [randomUUID(), b.tenantId, b.projectId, 'Planted'],
        ),
      ),
      { code: '42501' },
      'insert a task for another tenant',
    )
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query('UPDATE projects SET tenant_id = $1 WHERE id = $2', [b.tenantId, a.projectId]),
      ),
      { code: '42501' },
      'move an own project to another tenant',
    )
    // The composite foreign key: a task of tenant A cannot point at B's project, even when it claims tenant A.
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query(
          'INSERT INTO tasks (id, tenant_id, project_id, title, updated_at) VALUES ($1, $2, $3, $4, now())',
          [randomUUID(), a.tenantId, b.projectId, 'Crossed'],
        ),
      ),
      { code: '23503' },
      "an own task pointing at another tenant's project",
    )
    t.same(
      (await ownerView(backend, b.tenantId)).map(row => row.label),
      ['Plans', 'Secret task'],
      'B has only its own rows',
    )
    t.same(
      (await ownerView(backend, a.tenantId)).map(row => row.tenant_id),
      [a.tenantId, a.tenantId],
      "A's rows stayed A's",
    )
  })

  t.test('with no tenant set, nothing is visible and nothing can be written', async t => {
    const a = await seedTenant(backend)
    for (const [label, tenant] of [
      ['never set', null],
      ['set to empty', ''],
    ] as const) {
      await asTenant(backend, tenant, async session => {
        for (const table of TENANT_OWNED) t.equal(await rowCount(session, table), 0, `${label}: ${table} shows nothing`)
        t.same(
          await session.query('DELETE FROM projects WHERE id = $1 RETURNING id', [a.projectId]),
          [],
          `${label}: delete finds nothing`,
        )
      })
      await t.rejects(
        asTenant(backend, tenant, session =>
          session.query('INSERT INTO projects (id, tenant_id, name, updated_at) VALUES ($1, $2, $3, now())', [
            randomUUID(),
            a.tenantId,
            'Orphan',
          ]),
        ),
        { code: '42501' },
        `${label}: insert refused`,
      )
    }
    t.equal((await ownerView(backend, a.tenantId)).length, 2)
  })

  t.test("a hostname's owner is one exact name through tenant_domain_owner(), never a listing", async t => {
    const a = await seedTenant(backend)
    await asTenant(backend, null, async session => {
      t.same(
        await session.query('SELECT tenant_id::text FROM tenant_domain_owner($1)', [`${a.tenantId}.example.com`]),
        [{ tenant_id: a.tenantId }],
      )
      t.same(await session.query('SELECT tenant_id FROM tenant_domain_owner($1)', ['%']), [], 'no pattern matching')
      t.equal(await rowCount(session, 'tenant_domains'), 0, 'the table itself shows nothing without a tenant')
    })
    const b = await seedTenant(backend)
    await t.rejects(
      asTenant(backend, b.tenantId, session =>
        session.query('INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES ($1, $2, $3)', [
          randomUUID(),
          a.tenantId,
          `planted-${b.tenantId}.example.com`,
        ]),
      ),
      { code: '42501' },
      "claiming a name in another tenant's name",
    )
    await t.rejects(
      asTenant(backend, b.tenantId, session =>
        session.query('INSERT INTO tenant_domains (id, tenant_id, hostname) VALUES ($1, $2, $3)', [
          randomUUID(),
          b.tenantId,
          `${a.tenantId}.example.com`,
        ]),
      ),
      { code: '23505' },
      "another tenant's name is taken",
    )
  })

  t.test('the app role can read tenants but not change them', async t => {
    const a = await seedTenant(backend)
    await asTenant(backend, a.tenantId, async session => {
      t.equal(await rowCount(session, 'tenants', 'id = $1', [a.tenantId]), 1)
    })
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'Evil')", [
          randomUUID(),
          `evil-${a.tenantId.slice(0, 8)}`,
        ]),
      ),
      { code: '42501' },
    )
    await t.rejects(
      asTenant(backend, a.tenantId, session =>
        session.query("UPDATE tenants SET plan = 'enterprise' WHERE id = $1", [a.tenantId]),
      ),
      { code: '42501' },
    )
    await t.rejects(
      asTenant(backend, a.tenantId, session => session.query('DELETE FROM tenants WHERE id = $1', [a.tenantId])),
      { code: '42501' },
    )
  })

  t.test('the app role has no way around the policies', async t => {
    const [identity] = await backend.asApp(session => session.query<{ current_user: string }>('SELECT current_user'))
    t.equal(identity?.current_user, APP_ROLE, 'the app connects as the app role')
    const [role] = await backend.asOwner(session =>
      session.query<{ rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean; member_of: string[] }>(
        `SELECT rolsuper, rolbypassrls, rolcreaterole,
              ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
         FROM pg_roles r WHERE rolname = $1`,
        [APP_ROLE],
      ),
    )
    t.same(
      role,
      { rolsuper: false, rolbypassrls: false, rolcreaterole: false, member_of: [] },
      'not superuser, not BYPASSRLS, inherits nothing',
    )

    const tables = await backend.asOwner(session =>
      session.query<{
        table: string
        owner: string
        rls: boolean
        forced: boolean
        tenant_owned: boolean
        policies: string[]
      }>(
        `SELECT c.relname AS table, pg_get_userbyid(c.relowner) AS owner, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_owned,
              ARRAY(SELECT p.polcmd::text || ':' || pg_get_expr(p.polqual, p.polrelid) || ':' || pg_get_expr(p.polwithcheck, p.polrelid)
                      FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
      ),
    )
    t.not(tables.length, 0)
    for (const table of tables) t.not(table.owner, APP_ROLE, `${table.table} is not owned by the app role`)
    const tenantOwned = tables.filter(table => table.tenant_owned)
    t.same(
      tenantOwned.map(table => table.table),
      TENANT_OWNED,
      'every table with a tenant_id is checked here',
    )
    for (const table of tenantOwned) {
      t.ok(table.rls && table.forced, `${table.table}: ENABLE and FORCE ROW LEVEL SECURITY`)
      t.equal(table.policies.length, 1, `${table.table}: one policy`)
      // '*' = all commands; the same tenant test for reading (USING) and writing (WITH CHECK).
      t.match(
        table.policies[0],
        /^\*:\(tenant_id = \(NULLIF\(current_setting\('app\.tenant_id'::text, true\), ''::text\)\)::uuid\):\(tenant_id = \(NULLIF/,
        `${table.table}: the policy compares tenant_id with app.tenant_id for reads and writes`,
      )
    }
  })

  t.test(
    'through the $withTenant extension, a forged where finds nothing and the setting does not outlive it',
    async t => {
      const a = await seedTenant(backend)
      const b = await seedTenant(backend)
      const db = backend.database.prisma.$extends(backend.database.tenantScope())
      const seen = await db.$withTenant(a.tenantId, async tx => ({
        all: await tx.project.findMany({ select: { tenantId: true } }),
        forged: await tx.project.findMany({ where: { tenantId: b.tenantId } }),
        byId: await tx.task.findUnique({ where: { id: b.taskId } }),
        updated: await tx.project.updateMany({ where: { id: b.projectId }, data: { name: 'pwned' } }),
        deleted: await tx.task.deleteMany({ where: { tenantId: b.tenantId } }),
      }))
      t.same([...new Set(seen.all.map(row => row.tenantId))], [a.tenantId])
      t.same(seen.forged, [])
      t.equal(seen.byId, null)
      t.equal(seen.updated.count, 0)
      t.equal(seen.deleted.count, 0)
      await t.rejects(
        db.$withTenant(a.tenantId, tx => tx.project.create({ data: { tenantId: b.tenantId, name: 'Planted' } })),
        /row-level security|42501/,
        "creating a row in another tenant's name fails",
      )
      t.same(
        (await ownerView(backend, b.tenantId)).map(row => row.label),
        ['Plans', 'Secret task'],
      )

      // Outside a $withTenant the same client sees no tenant at all: the setting was transaction-local.
      t.same(await db.project.findMany({ where: { tenantId: a.tenantId } }), [])
    },
  )

  t.test(
    'units of work of two tenants started in the same tick stay apart (Prisma batches findUnique calls)',
    async t => {
      const a = await seedTenant(backend)
      const b = await seedTenant(backend)
      const db = backend.database.prisma.$extends(backend.database.tenantScope())
      for (let attempt = 0; attempt < 5; attempt++) {
        // b asks first, so a batch of both would run as b: a would then receive b's project.
        const [ownByB, forgedByA, forgedTaskByA] = await Promise.all([
          db.$withTenant(b.tenantId, tx => tx.project.findUnique({ where: { id: b.projectId } })),
          db.$withTenant(a.tenantId, tx => tx.project.findUnique({ where: { id: b.projectId } })),
          db.$withTenant(a.tenantId, tx => tx.task.findUniqueOrThrow({ where: { id: b.taskId } }).catch(() => null)),
        ])
        t.equal(ownByB?.id, b.projectId, `attempt ${attempt + 1}: the owner finds its project`)
        t.equal(forgedByA, null, `attempt ${attempt + 1}: the other tenant, asking in the same tick, does not`)
        t.equal(forgedTaskByA, null, `attempt ${attempt + 1}: nor its task (findUniqueOrThrow)`)
      }
    },
  )
})
