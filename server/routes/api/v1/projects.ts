import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams } from '../../../schemas/common.ts'
import { problemResponses } from '../../../schemas/problem.ts'
import {
  CreateProjectBody,
  ListProjectsQuery,
  ProjectPageSchema,
  ProjectSchema,
  UpdateProjectBody,
} from '../../../schemas/project.ts'
import { CreateTaskBody, ListProjectTasksQuery, TaskPageSchema, TaskSchema } from '../../../schemas/task.ts'

const tags = ['projects']

export default async function projectRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { projects, tasks } = app.services

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: 'List projects',
        querystring: ListProjectsQuery,
        response: { 200: ProjectPageSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async request => projects.list(app.identityOf(request).tenant.id, request.query),
  )

  app.post(
    '/',
    {
      schema: {
        tags,
        summary: 'Create a project',
        body: CreateProjectBody,
        response: { 201: ProjectSchema, ...problemResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const project = await projects.create(app.identityOf(request).tenant.id, request.body)
      return reply.code(201).header('location', `/api/v1/projects/${project.id}`).send(project)
    },
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Get a project',
        params: IdParams,
        response: { 200: ProjectSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async request => projects.get(app.identityOf(request).tenant.id, request.params.id),
  )

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Change a project',
        params: IdParams,
        body: UpdateProjectBody,
        response: { 200: ProjectSchema, ...problemResponses(400, 401, 403, 404, 413, 415) },
      },
    },
    async request => projects.update(app.identityOf(request).tenant.id, request.params.id, request.body),
  )

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Delete a project and its tasks',
        params: IdParams,
        response: { 204: Type.Null(), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await projects.remove(app.identityOf(request).tenant.id, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/:id/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: "List a project's tasks",
        params: IdParams,
        querystring: ListProjectTasksQuery,
        response: { 200: TaskPageSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async request =>
      tasks.list(
        app.identityOf(request).tenant.id,
        { ...request.query, projectId: request.params.id },
        { requireProject: true },
      ),
  )

  app.post(
    '/:id/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Create a task in a project',
        params: IdParams,
        body: CreateTaskBody,
        response: { 201: TaskSchema, ...problemResponses(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const task = await tasks.create(app.identityOf(request).tenant.id, request.params.id, request.body)
      return reply.code(201).header('location', `/api/v1/tasks/${task.id}`).send(task)
    },
  )
}
