// The api section's two reference data layers answer alike on a real Postgres database under RLS: the floor on
// Prisma (reference-prisma.ts) is only a floor if it does the work node-postgres does (reference-sql.ts), for
// the same tenant's rows and nobody else's.
import t from 'tap'
import { createApiBenchDatabase, planSeed } from '../../../bench/api/database.ts'
import type { ReferenceData } from '../../../bench/api/reference-data.ts'
import { prismaDataLayer } from '../../../bench/api/reference-prisma.ts'
import { sqlDataLayer } from '../../../bench/api/reference-sql.ts'
import { READER, WRITER } from '../../../bench/api/scenarios.ts'
import { postgresUrls } from '../../helpers/backends.ts'

const urls = postgresUrls()

t.test('the SQL and Prisma reference layers answer every scenario alike', { skip: urls === undefined }, async t => {
  const plan = planSeed()
  const database = await createApiBenchDatabase(urls!.owner, plan)
  t.teardown(() => database.drop())
  const poolMax = 2
  const layers: Record<'sql' | 'prisma', ReferenceData> = {
    sql: sqlDataLayer({ url: database.appUrl, poolMax, isolation: 'rls' }, error => t.fail(error.message)),
    prisma: prismaDataLayer({ url: database.appUrl, poolMax }),
  }
  t.teardown(() => Promise.all(Object.values(layers).map(layer => layer.close())))

  const reader = (await layers.sql.tenantIdOf(READER.tenant))!
  const writer = (await layers.prisma.tenantIdOf(WRITER.tenant))!
  t.equal(await layers.prisma.tenantIdOf(READER.tenant), reader)
  t.equal(await layers.sql.tenantIdOf('nobody'), null)

  const [sqlList, prismaList] = await Promise.all([
    layers.sql.listProjects(reader, 20),
    layers.prisma.listProjects(reader, 20),
  ])
  t.equal(sqlList.length, 21, 'a page and one more')
  t.same(prismaList, sqlList)
  t.same(
    new Set(sqlList.map(project => project.id)),
    new Set(plan.readProjects.slice(0, 21).map(project => project.id)),
    "the reader's oldest projects",
  )

  const [sqlPage, prismaPage] = await Promise.all([
    layers.sql.projectsWithTasks(reader, 10, 5),
    layers.prisma.projectsWithTasks(reader, 10, 5),
  ])
  t.equal(sqlPage.length, 11)
  t.ok(sqlPage.slice(0, 10).every(project => project.tasks.length === 5))
  t.same(prismaPage.slice(0, 10), sqlPage.slice(0, 10))

  const other = plan.writeProjects[0]!.id
  for (const layer of Object.values(layers)) {
    t.same(await layer.getProject(reader, sqlList[3]!.id), sqlList[3])
    t.equal(await layer.getProject(reader, other), undefined, "another tenant's project is not found")
    t.equal(await layer.updateProject(reader, other, { name: 'taken over' }), undefined, 'nor updated')
  }

  for (const [name, layer] of Object.entries(layers)) {
    const created = await layer.createProject(writer, { name: `made by ${name}`, description: null })
    t.match(created, { name: `made by ${name}`, description: null, createdAt: Date, updatedAt: Date }, name)
    const updated = await layer.updateProject(writer, created.id, { description: 'changed' })
    t.match(updated, { id: created.id, name: `made by ${name}`, description: 'changed' }, name)
    t.ok(updated!.updatedAt >= created.updatedAt)
  }
  t.equal(await database.resetWrites(), 2, 'each layer created one row, in the writer tenant')
})
