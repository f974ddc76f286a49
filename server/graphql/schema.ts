// The GraphQL schema. It mirrors the REST resources; both call the same services.
export const schema = /* GraphQL */ `
  "Lifecycle of a task"
  enum TaskStatus {
    todo
    in_progress
    done
  }

  enum ProjectSort {
    createdAt
    createdAt_desc
    updatedAt
    updatedAt_desc
    name
    name_desc
  }
  enum TaskSort {
    createdAt
    createdAt_desc
    updatedAt
    updatedAt_desc
    priority
    priority_desc
    dueDate
    dueDate_desc
    title
    title_desc
  }

  "The tenant the caller belongs to, and who the caller is"
  type Viewer {
    user: String!
    tenant: Tenant!
  }

  type Tenant {
    id: ID!
    slug: String!
    name: String!
    plan: String!
  }

  type Project {
    id: ID!
    name: String!
    description: String
    "ISO 8601 timestamp"
    createdAt: String!
    "ISO 8601 timestamp"
    updatedAt: String!
    "The project's oldest tasks first; at most \`first\` of them"
    tasks(status: TaskStatus, first: Int = 20): [Task!]!
  }

  type Task {
    id: ID!
    title: String!
    description: String
    status: TaskStatus!
    "0 (none) to 4 (urgent)"
    priority: Int!
    "YYYY-MM-DD"
    dueDate: String
    createdAt: String!
    updatedAt: String!
    project: Project!
  }

  "A hostname of the tenant's own: requests arriving on it belong to the tenant"
  type Domain {
    id: ID!
    "Lowercase; IDNA names as punycode"
    hostname: String!
    createdAt: String!
  }

  type ProjectConnection {
    nodes: [Project!]!
    "Pass as \`after\` for the next page; null on the last page"
    next: String
  }

  type TaskConnection {
    nodes: [Task!]!
    next: String
  }

  input TaskFilter {
    projectId: ID
    status: TaskStatus
    priorityAtLeast: Int
    "YYYY-MM-DD"
    dueBefore: String
    "YYYY-MM-DD"
    dueAfter: String
    q: String
  }

  type Query {
    viewer: Viewer!
    projects(first: Int = 20, after: String, sort: ProjectSort = createdAt, q: String): ProjectConnection!
    project(id: ID!): Project
    tasks(first: Int = 20, after: String, sort: TaskSort = createdAt, filter: TaskFilter): TaskConnection!
    task(id: ID!): Task
    "The tenant's own hostnames, oldest first"
    domains: [Domain!]!
  }

  input CreateProjectInput {
    name: String!
    description: String
  }

  input UpdateProjectInput {
    name: String
    description: String
  }

  input CreateTaskInput {
    title: String!
    description: String
    status: TaskStatus
    priority: Int
    dueDate: String
  }

  input UpdateTaskInput {
    title: String
    description: String
    status: TaskStatus
    priority: Int
    dueDate: String
    "Move the task to another project of the same tenant"
    projectId: ID
  }

  type Mutation {
    createProject(input: CreateProjectInput!): Project!
    updateProject(id: ID!, input: UpdateProjectInput!): Project!
    deleteProject(id: ID!): Boolean!
    createTask(projectId: ID!, input: CreateTaskInput!): Task!
    updateTask(id: ID!, input: UpdateTaskInput!): Task!
    deleteTask(id: ID!): Boolean!
    "Claim a hostname (no IP addresses, wildcards or local-only names)"
    addDomain(hostname: String!): Domain!
    removeDomain(hostname: String!): Boolean!
  }
`
