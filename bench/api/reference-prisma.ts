// The reference service's data layer with Prisma kept, as issue 10 requires of the API: the cheapest way we know
// to run a tenant's unit of work through Prisma under RLS (its adapter on the API's lane pool, so BEGIN and
// set_config travel with the statement, COMMIT too when it is the only one) and nothing of the API besides: no
// client extensions, no metrics. The API's CPU ÷ this is what the API adds to its ORM; this ÷ the SQL reference is
// what Prisma costs. GraphQL's page is the API's two statements (projects, then the ranked tasks of the page's
// projects) as two units of work, as the API's resolver and loader run them.
import { createPostgresClient, Prisma } from '../../server/db/prisma-client.ts'
import type { ReferenceData, ReferencePageProject } from './reference-data.ts'

const PROJECT = { id: true, name: true, description: true, createdAt: true, updatedAt: true } as const
const OLDEST_FIRST = [{ createdAt: 'asc' }, { id: 'asc' }] as const satisfies Prisma.ProjectOrderByWithRelationInput[]

export function prismaDataLayer(options: { url: string; poolMax: number }): ReferenceData {
  const { prisma, pool } = createPostgresClient({
    url: options.url,
    poolMax: options.poolMax,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
  })
  return {
    async tenantIdOf(slug) {
      return (await prisma.tenant.findFirst({ where: { slug }, select: { id: true } }))?.id ?? null
    },
    listProjects: (tenantId, limit) =>
      pool.inLane(tenantId, () =>
        prisma.project.findMany({ select: PROJECT, orderBy: [...OLDEST_FIRST], take: limit + 1 }),
      ),
    getProject: async (tenantId, id) =>
      (await pool.inLane(tenantId, () => prisma.project.findFirst({ where: { id }, select: PROJECT }))) ?? undefined,
    createProject: (tenantId, project) =>
      pool.inLane(tenantId, () => prisma.project.create({ data: { tenantId, ...project }, select: PROJECT })),
    updateProject: (tenantId, id, change) =>
      pool
        .inLane(tenantId, () => prisma.project.update({ where: { id }, data: change, select: PROJECT }))
        .catch((error: unknown) => {
          if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025') return undefined
          throw error
        }),
    async projectsWithTasks(tenantId, projects, tasks) {
      const page: ReferencePageProject[] = (
        await pool.inLane(tenantId, () =>
          prisma.project.findMany({
            select: { id: true, name: true, createdAt: true },
            orderBy: [...OLDEST_FIRST],
            take: projects + 1,
          }),
        )
      ).map(project => ({ ...project, tasks: [] }))
      const ids = page.slice(0, projects).map(project => project.id)
      const rows = await pool.inLane(
        tenantId,
        () => prisma.$queryRaw<Array<{ projectId: string; title: string; status: string }>>`
          SELECT project_id AS "projectId", title, status::text AS status FROM (
            SELECT *, row_number() OVER (PARTITION BY project_id ORDER BY created_at, id) AS rank
            FROM tasks WHERE project_id = ANY(${ids}::uuid[])
          ) ranked
          WHERE rank <= ${tasks}
          ORDER BY created_at, id`,
      )
      const byId = new Map(page.map(project => [project.id, project]))
      for (const row of rows) byId.get(row.projectId)?.tasks.push({ title: row.title, status: row.status })
      return page
    },
    async close() {
      await prisma.$disconnect()
      await pool.end()
    },
  }
}
