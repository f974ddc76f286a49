// Resolvers are edges like REST handlers: validate arguments with the shared schemas, call a service.
import type { IResolvers, MercuriusContext } from 'mercurius'
import { Type } from 'typebox'
import { IdParams, Uuid } from '../schemas/common.ts'
import { HostnameParams } from '../schemas/domain.ts'
import { CreateProjectBody, ListProjectsQuery, UpdateProjectBody } from '../schemas/project.ts'
import { CreateTaskBody, ListTasksQuery, UpdateTaskBody } from '../schemas/task.ts'
import { assertValid, withoutNulls } from '../schemas/validate.ts'
import type { RequestIdentity } from '../plugins/identity.ts'

declare module 'mercurius' {
  interface MercuriusContext {
    identity: RequestIdentity
  }
}

/** GraphQL enum values name descending sorts `field_desc`; the services take `-field`. */
const toSort = (sort: string | null | undefined): string | undefined =>
  sort == null ? undefined : sort.endsWith('_desc') ? `-${sort.slice(0, -'_desc'.length)}` : sort

const ProjectIdArgs = Type.Object({ projectId: Uuid })
const tenantOf = (context: MercuriusContext): string => context.identity.tenant.id

interface PageArgs {
  first?: number | null
  after?: string | null
  sort?: string | null
  q?: string | null
}

export const resolvers: IResolvers = {
  Query: {
    viewer: (_root, _args, context) => ({ user: context.identity.user, tenant: context.identity.tenant }),

    projects: async (_root, args: PageArgs, context) => {
      const query = assertValid(
        ListProjectsQuery,
        withoutNulls({ limit: args.first, cursor: args.after, sort: toSort(args.sort), q: args.q }),
      )
      const page = await context.app.services.projects.list(tenantOf(context), query)
      return { nodes: page.data, next: page.next }
    },

    project: async (_root, args: { id: string }, context) => {
      const { id } = assertValid(IdParams, args)
      return context.app.services.projects.getMany(tenantOf(context), [id]).then(([project]) => project ?? null)
    },

    tasks: async (_root, args: PageArgs & { filter?: Record<string, unknown> | null }, context) => {
      const query = assertValid(
        ListTasksQuery,
        withoutNulls({
          limit: args.first,
          cursor: args.after,
          sort: toSort(args.sort),
          ...withoutNulls(args.filter),
        }),
        'filter',
      )
      const page = await context.app.services.tasks.list(tenantOf(context), query)
      return { nodes: page.data, next: page.next }
    },

    task: async (_root, args: { id: string }, context) => {
      const { id } = assertValid(IdParams, args)
      return context.app.services.tasks.get(tenantOf(context), id).catch((error: { statusCode?: number }) => {
        if (error.statusCode === 404) return null
        throw error
      })
    },

    domains: async (_root, _args, context) => context.app.services.domains.list(tenantOf(context)),
  },

  Mutation: {
    addDomain: async (_root, args: { hostname: string }, context) =>
      context.app.services.domains.add(tenantOf(context), assertValid(HostnameParams, args).hostname),

    removeDomain: async (_root, args: { hostname: string }, context) => {
      await context.app.services.domains.remove(tenantOf(context), assertValid(HostnameParams, args).hostname)
      return true
    },

    createProject: async (_root, args: { input: Record<string, unknown> }, context) =>
      context.app.services.projects.create(
        tenantOf(context),
        assertValid(CreateProjectBody, withoutNulls(args.input, ['description']), 'input'),
      ),

    updateProject: async (_root, args: { id: string; input: Record<string, unknown> }, context) => {
      const { id } = assertValid(IdParams, { id: args.id })
      return context.app.services.projects.update(
        tenantOf(context),
        id,
        assertValid(UpdateProjectBody, withoutNulls(args.input, ['description']), 'input'),
      )
    },

    deleteProject: async (_root, args: { id: string }, context) => {
      const { id } = assertValid(IdParams, args)
      await context.app.services.projects.remove(tenantOf(context), id)
      return true
    },

    createTask: async (_root, args: { projectId: string; input: Record<string, unknown> }, context) => {
      const { projectId } = assertValid(ProjectIdArgs, { projectId: args.projectId })
      return context.app.services.tasks.create(
        tenantOf(context),
        projectId,
        assertValid(CreateTaskBody, withoutNulls(args.input, ['description', 'dueDate']), 'input'),
      )
    },

    updateTask: async (_root, args: { id: string; input: Record<string, unknown> }, context) => {
      const { id } = assertValid(IdParams, { id: args.id })
      return context.app.services.tasks.update(
        tenantOf(context),
        id,
        assertValid(UpdateTaskBody, withoutNulls(args.input, ['description', 'dueDate']), 'input'),
      )
    },

    deleteTask: async (_root, args: { id: string }, context) => {
      const { id } = assertValid(IdParams, args)
      await context.app.services.tasks.remove(tenantOf(context), id)
      return true
    },
  },
}
