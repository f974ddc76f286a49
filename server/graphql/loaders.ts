// Batch loaders for relations, so a list of N parents costs one query per relation, not N.
import type { MercuriusLoaders } from 'mercurius'
import type { ProjectDto } from '../schemas/project.ts'
import type { TaskDto } from '../schemas/task.ts'
import { TaskStatus } from '../schemas/task.ts'
import { assertValid } from '../schemas/validate.ts'
import type { TaskNode } from '../services/tasks.ts'
import { Type } from 'typebox'
import { fieldsSelectedUnder, type OperationInfo } from './selection.ts'

const TasksArgs = Type.Object({
  status: Type.Optional(Type.Union([TaskStatus, Type.Null()])),
  first: Type.Integer({ minimum: 0, maximum: 100 }),
})

export const loaders: MercuriusLoaders = {
  Project: {
    tasks: {
      // Without mercurius' per-request cache each query carries its resolve info: the operation says which of
      // a task's fields to read. Equal queries of one tick are still merged.
      opts: { cache: false },
      loader: async (
        queries: Array<{
          obj: ProjectDto
          params: { status?: TaskDto['status'] | null; first: number }
          // Typed optional as mercurius declares it; given whenever the cache is off.
          info?: OperationInfo
        }>,
        context,
      ) => {
        const tenantId = context.identity.tenant.id
        const info = queries[0]?.info
        const fields = info === undefined ? undefined : fieldsSelectedUnder(info, 'tasks')
        // One batch may hold different arguments (aliases); one query per distinct argument set.
        const groups = new Map<string, { status?: TaskDto['status']; first: number; projectIds: string[] }>()
        for (const { obj, params } of queries) {
          const args = assertValid(TasksArgs, params, 'tasks')
          const key = `${args.status ?? ''}:${args.first}`
          const group = groups.get(key) ?? {
            ...(args.status != null ? { status: args.status } : {}),
            first: args.first,
            projectIds: [],
          }
          group.projectIds.push(obj.id)
          groups.set(key, group)
        }
        const results = new Map<string, Map<string, TaskNode[]>>()
        for (const [key, group] of groups) {
          const filter = group.status !== undefined ? { status: group.status } : {}
          results.set(
            key,
            await context.app.services.tasks.firstOfProjects(tenantId, group.projectIds, filter, group.first, fields),
          )
        }
        return queries.map(
          ({ obj, params }) => results.get(`${params.status ?? ''}:${params.first}`)?.get(obj.id) ?? [],
        )
      },
    },
  },
  Task: {
    async project(queries: Array<{ obj: Pick<TaskDto, 'projectId'> }>, context) {
      return context.app.services.projects.getMany(
        context.identity.tenant.id,
        queries.map(({ obj }) => obj.projectId),
      )
    },
  },
}
