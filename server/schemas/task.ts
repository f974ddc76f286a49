import { Type, type Static } from 'typebox'
import { NO_NUL, NOT_BLANK, Page, PageQuery, Uuid } from './common.ts'

export const TASK_STATUSES = ['todo', 'in_progress', 'done'] as const
export const TaskStatus = Type.Enum(TASK_STATUSES, { title: 'TaskStatus' })
const Title = Type.String({ minLength: 1, maxLength: 500, pattern: NOT_BLANK })
const Description = Type.Union([Type.String({ maxLength: 10_000, pattern: NO_NUL }), Type.Null()])
const Priority = Type.Integer({ minimum: 0, maximum: 4, description: '0 none … 4 urgent' })
const DueDate = Type.Union([Type.String({ format: 'date', description: 'YYYY-MM-DD' }), Type.Null()])

export const TaskSchema = Type.Object(
  {
    id: Uuid,
    projectId: Uuid,
    title: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    status: TaskStatus,
    priority: Type.Integer(),
    dueDate: Type.Union([Type.String({ format: 'date' }), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Task', title: 'Task' },
)

export const TaskPageSchema = Page(TaskSchema, 'TaskPage')

export const CreateTaskBody = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    status: Type.Optional(TaskStatus),
    priority: Type.Optional(Priority),
    dueDate: Type.Optional(DueDate),
  },
  { additionalProperties: false, title: 'CreateTask' },
)

export const UpdateTaskBody = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    status: Type.Optional(TaskStatus),
    priority: Type.Optional(Priority),
    dueDate: Type.Optional(DueDate),
    projectId: Type.Optional(Uuid),
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateTask' },
)

export const TaskSort = Type.Enum(
  [
    'createdAt',
    '-createdAt',
    'updatedAt',
    '-updatedAt',
    'priority',
    '-priority',
    'dueDate',
    '-dueDate',
    'title',
    '-title',
  ],
  {
    default: 'createdAt',
    description: 'Field to sort by; a leading - sorts descending (tasks without a due date come last)',
  },
)

export const TaskFilters = {
  status: Type.Optional(TaskStatus),
  priorityAtLeast: Type.Optional(Priority),
  dueBefore: Type.Optional(Type.String({ format: 'date', description: 'Due on or before this day' })),
  dueAfter: Type.Optional(Type.String({ format: 'date', description: 'Due on or after this day' })),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: NO_NUL,
      description: 'Case-insensitive substring of the title',
    }),
  ),
}

export const ListProjectTasksQuery = Type.Object(
  { ...PageQuery, ...TaskFilters, sort: Type.Optional(TaskSort) },
  { additionalProperties: false },
)
export const ListTasksQuery = Type.Object(
  {
    ...PageQuery,
    ...TaskFilters,
    projectId: Type.Optional(Uuid),
    sort: Type.Optional(TaskSort),
  },
  { additionalProperties: false },
)

export type TaskDto = Static<typeof TaskSchema>
export type CreateTaskInput = Static<typeof CreateTaskBody>
export type UpdateTaskInput = Static<typeof UpdateTaskBody>
export type ListTasksInput = Static<typeof ListTasksQuery>
