import { Type, type Static } from 'typebox'
import { NO_NUL, NOT_BLANK, Page, PageQuery, Uuid } from './common.ts'

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: NOT_BLANK })
const Description = Type.Union([Type.String({ maxLength: 10_000, pattern: NO_NUL }), Type.Null()])

export const ProjectSchema = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Project', title: 'Project' },
)

export const ProjectPageSchema = Page(ProjectSchema, 'ProjectPage')

export const CreateProjectBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
  },
  { additionalProperties: false, title: 'CreateProject' },
)

export const UpdateProjectBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateProject' },
)

export const ProjectSort = Type.Enum(['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'name', '-name'], {
  default: 'createdAt',
  description: 'Field to sort by; a leading - sorts descending',
})

export const ListProjectsQuery = Type.Object(
  {
    ...PageQuery,
    sort: Type.Optional(ProjectSort),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: NO_NUL,
        description: 'Case-insensitive substring of the name',
      }),
    ),
  },
  { additionalProperties: false },
)

export type ProjectDto = Static<typeof ProjectSchema>
export type CreateProjectInput = Static<typeof CreateProjectBody>
export type UpdateProjectInput = Static<typeof UpdateProjectBody>
export type ListProjectsInput = Static<typeof ListProjectsQuery>
