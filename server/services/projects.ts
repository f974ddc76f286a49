// Project use cases, shared by REST and GraphQL. Every call runs as one tenant-scoped transaction,
// so isolation holds even where a `where` clause is wrong: the database refuses other tenants' rows.
import type { Project } from '../db/generated/client.ts'
import { notFoundAs } from '../db/database-errors.ts'
import { Errors } from '../../common/problem.ts'
import type { AppDatabaseClient } from '../plugins/database.ts'
import type { CreateProjectInput, ListProjectsInput, ProjectDto, UpdateProjectInput } from '../schemas/project.ts'
import { isoTimestamp } from './iso-timestamp.ts'
import { afterCursor, orderBy, parseSort, toPage } from './keyset-page.ts'
import { substring } from './text-search.ts'

const SORTABLE = {
  createdAt: { nullable: false, kind: 'date' },
  updatedAt: { nullable: false, kind: 'date' },
  name: { nullable: false, kind: 'string' },
} as const

export function toProjectDto(project: Project): ProjectDto {
  return {
    id: project.id,
    name: project.name,
    description: project.description,
    createdAt: isoTimestamp(project.createdAt),
    updatedAt: isoTimestamp(project.updatedAt),
  }
}

export function createProjectService(db: AppDatabaseClient) {
  return {
    async list(tenantId: string, input: ListProjectsInput) {
      const limit = input.limit ?? 20
      const sort = parseSort(input.sort ?? 'createdAt', SORTABLE)
      const rows = await db.$withTenant(tenantId, tx =>
        tx.project.findMany({
          where: {
            ...(input.q !== undefined ? { name: substring(input.q) } : {}),
            ...afterCursor(input.cursor, sort),
          },
          orderBy: orderBy(sort),
          take: limit + 1,
        }),
      )
      return toPage(rows, limit, sort, toProjectDto)
    },

    async get(tenantId: string, id: string): Promise<ProjectDto> {
      const project = await db.$withTenant(tenantId, tx => tx.project.findFirst({ where: { id } }))
      if (project === null) throw new Errors.NotFound('Project')
      return toProjectDto(project)
    },

    /** Many projects by id in one query (GraphQL loaders); missing ids map to null. */
    async getMany(tenantId: string, ids: readonly string[]): Promise<Array<ProjectDto | null>> {
      const rows = await db.$withTenant(tenantId, tx =>
        tx.project.findMany({ where: { id: { in: [...new Set(ids)] } } }),
      )
      const byId = new Map(rows.map(row => [row.id, toProjectDto(row)]))
      return ids.map(id => byId.get(id) ?? null)
    },

    async create(tenantId: string, input: CreateProjectInput): Promise<ProjectDto> {
      const project = await db.$withTenant(tenantId, tx =>
        tx.project.create({
          data: { tenantId, name: input.name.trim(), description: input.description ?? null },
        }),
      )
      return toProjectDto(project)
    },

    async update(tenantId: string, id: string, input: UpdateProjectInput): Promise<ProjectDto> {
      // One UPDATE … RETURNING; a row this tenant cannot see is "not found" (P2025), as one that does not exist.
      const project = await db
        .$withTenant(tenantId, tx =>
          tx.project.update({
            where: { id },
            data: {
              ...(input.name !== undefined ? { name: input.name.trim() } : {}),
              ...(input.description !== undefined ? { description: input.description } : {}),
            },
          }),
        )
        .catch(notFoundAs('Project'))
      return toProjectDto(project)
    },

    async remove(tenantId: string, id: string): Promise<void> {
      const { count } = await db.$withTenant(tenantId, tx => tx.project.deleteMany({ where: { id } }))
      if (count === 0) throw new Errors.NotFound('Project')
    },
  }
}

export type ProjectService = ReturnType<typeof createProjectService>
