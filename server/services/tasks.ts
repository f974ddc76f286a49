// Task use cases, shared by REST and GraphQL, each one tenant-scoped transaction.
import { Prisma, type Task } from '../db/generated/client.ts'
import { notFoundAs } from '../db/database-errors.ts'
import type { TenantTransaction } from '../db/tenant-scope.ts'
import { Errors } from '../../common/problem.ts'
import type { AppDatabaseClient } from '../plugins/database.ts'
import type { CreateTaskInput, ListTasksInput, TaskDto, UpdateTaskInput } from '../schemas/task.ts'
import { isoTimestamp } from './iso-timestamp.ts'
import { afterCursor, orderBy, parseSort, toPage } from './keyset-page.ts'
import { substring } from './text-search.ts'

const SORTABLE = {
  createdAt: { nullable: false, kind: 'date' },
  updatedAt: { nullable: false, kind: 'date' },
  priority: { nullable: false, kind: 'number' },
  dueDate: { nullable: true, kind: 'date' },
  title: { nullable: false, kind: 'string' },
} as const

/** Due dates are calendar days: stored as DATE, exchanged as YYYY-MM-DD. */
const toDay = (date: Date): string => isoTimestamp(date).slice(0, 10)
const fromDay = (day: string): Date => new Date(`${day}T00:00:00.000Z`)

export function toTaskDto(task: Task): TaskDto {
  return {
    id: task.id,
    projectId: task.projectId,
    title: task.title,
    description: task.description,
    status: task.status,
    priority: task.priority,
    dueDate: task.dueDate === null ? null : toDay(task.dueDate),
    createdAt: isoTimestamp(task.createdAt),
    updatedAt: isoTimestamp(task.updatedAt),
  }
}

/** A task as GraphQL's loader reads it: its ids, and those of the other fields the query asked for. */
export type TaskNode = Pick<TaskDto, 'id' | 'projectId'> & Partial<TaskDto>

const asIs = (value: unknown): unknown => value
/** The columns of a TaskNode's optional fields, and how each becomes its DTO value. */
const NODE_COLUMNS: Record<
  Exclude<keyof TaskDto, 'id' | 'projectId'>,
  { sql: Prisma.Sql; toDto(value: unknown): unknown }
> = {
  title: { sql: Prisma.sql`title`, toDto: asIs },
  description: { sql: Prisma.sql`description`, toDto: asIs },
  status: { sql: Prisma.sql`status::text AS status`, toDto: asIs },
  priority: { sql: Prisma.sql`priority`, toDto: asIs },
  dueDate: { sql: Prisma.sql`due_date AS "dueDate"`, toDto: value => (value === null ? null : toDay(value as Date)) },
  createdAt: { sql: Prisma.sql`created_at AS "createdAt"`, toDto: value => isoTimestamp(value as Date) },
  updatedAt: { sql: Prisma.sql`updated_at AS "updatedAt"`, toDto: value => isoTimestamp(value as Date) },
}
const TASK_FIELDS = Object.keys(NODE_COLUMNS) as Array<keyof typeof NODE_COLUMNS>

export type TaskFilter = Omit<ListTasksInput, 'limit' | 'cursor' | 'sort'>

function filterWhere(filter: TaskFilter): Prisma.TaskWhereInput {
  const due: Prisma.DateTimeNullableFilter = {}
  if (filter.dueBefore !== undefined) due.lte = fromDay(filter.dueBefore)
  if (filter.dueAfter !== undefined) due.gte = fromDay(filter.dueAfter)
  return {
    ...(filter.projectId !== undefined ? { projectId: filter.projectId } : {}),
    ...(filter.status !== undefined ? { status: filter.status } : {}),
    ...(filter.priorityAtLeast !== undefined ? { priority: { gte: filter.priorityAtLeast } } : {}),
    ...(Object.keys(due).length > 0 ? { dueDate: due } : {}),
    ...(filter.q !== undefined ? { title: substring(filter.q) } : {}),
  }
}

export function createTaskService(db: AppDatabaseClient) {
  return {
    /** Tasks of the tenant, optionally of one project: a project id that is not the tenant's is a 404. */
    async list(tenantId: string, input: ListTasksInput, { requireProject = false } = {}) {
      const limit = input.limit ?? 20
      const sort = parseSort(input.sort ?? 'createdAt', SORTABLE)
      const rows = await db.$withTenant(tenantId, async tx => {
        if (requireProject && input.projectId !== undefined) {
          const project = await tx.project.findFirst({ where: { id: input.projectId }, select: { id: true } })
          if (project === null) throw new Errors.NotFound('Project')
        }
        return tx.task.findMany({
          where: { AND: [filterWhere(input), afterCursor(input.cursor, sort)] },
          orderBy: orderBy(sort),
          take: limit + 1,
        })
      })
      return toPage(rows, limit, sort, toTaskDto)
    },

    async get(tenantId: string, id: string): Promise<TaskDto> {
      const task = await db.$withTenant(tenantId, tx => tx.task.findFirst({ where: { id } }))
      if (task === null) throw new Errors.NotFound('Task')
      return toTaskDto(task)
    },

    /**
     * The first `perProject` tasks of each project, for GraphQL's Project.tasks loader: one statement for any
     * number of projects (a window function ranks tasks within each project), so one round trip. Only the
     * `fields` asked for are read (and the ids; all of them when not said); the rest of each task is left out.
     */
    async firstOfProjects(
      tenantId: string,
      projectIds: readonly string[],
      filter: Pick<TaskFilter, 'status'>,
      perProject: number,
      fields?: ReadonlySet<string>,
    ): Promise<Map<string, TaskNode[]>> {
      const ids = [...new Set(projectIds)]
      const read = fields === undefined ? TASK_FIELDS : TASK_FIELDS.filter(field => fields.has(field))
      const columns = Prisma.join([
        Prisma.sql`id, project_id AS "projectId"`,
        ...read.map(field => NODE_COLUMNS[field].sql),
      ])
      const rows = await db.$withTenant(
        tenantId,
        tx => tx.$queryRaw<Array<Record<string, unknown> & { projectId: string }>>`
        SELECT ${columns}
        FROM (
          SELECT *, row_number() OVER (PARTITION BY project_id ORDER BY created_at, id) AS rank
          FROM tasks
          WHERE project_id = ANY(${ids}::uuid[])
            AND (${filter.status ?? null}::task_status IS NULL OR status = ${filter.status ?? null}::task_status)
        ) ranked
        WHERE rank <= ${perProject}
        ORDER BY created_at, id`,
      )
      const byProject = new Map<string, TaskNode[]>(ids.map(id => [id, []]))
      for (const row of rows) {
        // Each row becomes its node: the dates in it, as the API writes them.
        for (const field of read) row[field] = NODE_COLUMNS[field].toDto(row[field])
        byProject.get(row.projectId)?.push(row as unknown as TaskNode)
      }
      return byProject
    },

    async create(tenantId: string, projectId: string, input: CreateTaskInput): Promise<TaskDto> {
      const task = await db.$withTenant(tenantId, async tx => {
        const project = await tx.project.findFirst({ where: { id: projectId }, select: { id: true } })
        if (project === null) throw new Errors.NotFound('Project')
        return tx.task.create({
          data: {
            tenantId,
            projectId,
            title: input.title.trim(),
            description: input.description ?? null,
            status: input.status ?? 'todo',
            priority: input.priority ?? 0,
            dueDate: input.dueDate == null ? null : fromDay(input.dueDate),
          },
        })
      })
      return toTaskDto(task)
    },

    async update(tenantId: string, id: string, input: UpdateTaskInput): Promise<TaskDto> {
      const change = (tx: TenantTransaction) =>
        tx.task.update({
          where: { id },
          data: {
            ...(input.title !== undefined ? { title: input.title.trim() } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
            ...(input.status !== undefined ? { status: input.status } : {}),
            ...(input.priority !== undefined ? { priority: input.priority } : {}),
            ...(input.dueDate !== undefined ? { dueDate: input.dueDate === null ? null : fromDay(input.dueDate) } : {}),
            ...(input.projectId !== undefined ? { projectId: input.projectId } : {}),
          },
        })
      const { projectId } = input
      // Moving a task checks its new project first; otherwise the UPDATE … RETURNING is the unit of work.
      const task = await db
        .$withTenant(
          tenantId,
          projectId === undefined
            ? change
            : async tx => {
                const target = await tx.project.findFirst({ where: { id: projectId }, select: { id: true } })
                if (target === null) throw new Errors.NotFound('Project')
                return change(tx)
              },
        )
        .catch(notFoundAs('Task'))
      return toTaskDto(task)
    },

    async remove(tenantId: string, id: string): Promise<void> {
      const { count } = await db.$withTenant(tenantId, tx => tx.task.deleteMany({ where: { id } }))
      if (count === 0) throw new Errors.NotFound('Task')
    },
  }
}

export type TaskService = ReturnType<typeof createTaskService>
