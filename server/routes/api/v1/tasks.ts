import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams } from '../../../schemas/common.ts'
import { problemResponses } from '../../../schemas/problem.ts'
import { ListTasksQuery, TaskPageSchema, TaskSchema, UpdateTaskBody } from '../../../schemas/task.ts'

const tags = ['tasks']

export default async function taskRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { tasks } = app.services

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: 'List tasks across projects',
        querystring: ListTasksQuery,
        response: { 200: TaskPageSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async request => tasks.list(app.identityOf(request).tenant.id, request.query),
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Get a task',
        params: IdParams,
        response: { 200: TaskSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async request => tasks.get(app.identityOf(request).tenant.id, request.params.id),
  )

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Change a task (status, priority, due date, or move it to another project)',
        params: IdParams,
        body: UpdateTaskBody,
        response: { 200: TaskSchema, ...problemResponses(400, 401, 403, 404, 413, 415) },
      },
    },
    async request => tasks.update(app.identityOf(request).tenant.id, request.params.id, request.body),
  )

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Delete a task',
        params: IdParams,
        response: { 204: Type.Null(), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await tasks.remove(app.identityOf(request).tenant.id, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
