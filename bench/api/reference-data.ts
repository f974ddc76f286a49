// What the reference service asks of its data layer: the section's five requests, each one tenant's unit of work.
// Two layers answer it: node-postgres alone (reference-sql.ts, the floor without an ORM) and Prisma on the
// API's lane pool (reference-prisma.ts, the floor with Prisma kept as the data layer, as issue 10 requires).

export interface ReferenceProject {
  id: string
  name: string
  description: string | null
  createdAt: Date
  updatedAt: Date
}

/** A project of the GraphQL page with its first tasks, oldest first. */
export interface ReferencePageProject {
  id: string
  name: string
  createdAt: Date
  tasks: Array<{ title: string; status: string }>
}

export interface ReferenceData {
  tenantIdOf(slug: string): Promise<string | null>
  /** `limit` projects and one more, to know whether there is a next page (as the API does). */
  listProjects(tenantId: string, limit: number): Promise<ReferenceProject[]>
  getProject(tenantId: string, id: string): Promise<ReferenceProject | undefined>
  createProject(tenantId: string, project: { name: string; description: string | null }): Promise<ReferenceProject>
  updateProject(
    tenantId: string,
    id: string,
    change: { name?: string; description?: string | null },
  ): Promise<ReferenceProject | undefined>
  /** The first `projects` projects (and one more), each with its first `tasks` tasks. */
  projectsWithTasks(tenantId: string, projects: number, tasks: number): Promise<ReferencePageProject[]>
  close(): Promise<void>
}
