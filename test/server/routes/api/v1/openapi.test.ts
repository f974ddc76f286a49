// The OpenAPI document at /docs/json: well-formed 3.1, every /api/v1 route listed as it is really served,
// references that resolve, and errors documented as the problem+json they are sent as.
import t from 'tap'
import { forEachBackend } from '../../../../helpers/backends.ts'
import { buildTestApp } from '../../../../helpers/build-app.ts'

interface Operation {
  summary?: string
  tags?: string[]
  operationId?: string
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: Record<string, unknown> }>
  requestBody?: { required?: boolean; content: Record<string, { schema: Record<string, unknown> }> }
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>
}
interface Document {
  openapi: string
  info: { title: string; version: string }
  tags: Array<{ name: string }>
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown> }
}

// The README's table of the REST API.
const V1_OPERATIONS = [
  ['get', '/api/v1/projects'],
  ['post', '/api/v1/projects'],
  ['get', '/api/v1/projects/{id}'],
  ['patch', '/api/v1/projects/{id}'],
  ['delete', '/api/v1/projects/{id}'],
  ['get', '/api/v1/projects/{id}/tasks'],
  ['post', '/api/v1/projects/{id}/tasks'],
  ['get', '/api/v1/tasks'],
  ['get', '/api/v1/tasks/{id}'],
  ['patch', '/api/v1/tasks/{id}'],
  ['delete', '/api/v1/tasks/{id}'],
  ['get', '/api/v1/domains'],
  ['post', '/api/v1/domains'],
  ['get', '/api/v1/domains/{hostname}'],
  ['delete', '/api/v1/domains/{hostname}'],
] as const
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** Every `$ref` anywhere in the document, with where it was found. */
function refs(node: unknown, at = '#', found: Array<[string, string]> = []): Array<[string, string]> {
  if (Array.isArray(node)) node.forEach((item, i) => refs(item, `${at}/${i}`, found))
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push([at, value])
      else refs(value, `${at}/${key}`, found)
    }
  }
  return found
}

function resolve(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  return ref
    .slice(2)
    .split('/')
    .map(part => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>(
      (node, part) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined),
      document,
    )
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)
  const response = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200, 'served without an identity: the document is public')
  t.match(response.headers['content-type'], /^application\/json/)
  const doc = response.json<Document>()

  t.test('a well-formed OpenAPI 3.1 document', async t => {
    t.match(doc.openapi, /^3\.1\.\d+$/)
    t.match(doc.info, { title: String, version: String })
    const declaredTags = new Set(doc.tags.map(tag => tag.name))
    const operationIds = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths)) {
      t.match(path, /^\/(?:[^/]+(?:\/[^/]+)*)?$/, `${path}: no trailing or double slash`)
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map(match => match[1]).sort()
      for (const [method, operation] of Object.entries(item)) {
        t.ok(HTTP_METHODS.has(method), `${method} is an HTTP method`)
        t.ok(Object.keys(operation.responses).length > 0, `${method} ${path} has responses`)
        for (const [status, entry] of Object.entries(operation.responses)) {
          t.match(status, /^(?:[1-5](?:\d\d|XX)|default)$/, `${method} ${path} status ${status}`)
          t.type(entry.description, 'string', 'a response needs a description')
        }
        const inPath = (operation.parameters ?? []).filter(p => p.in === 'path')
        t.same(inPath.map(p => p.name).sort(), templated, `${method} ${path}: path parameters match the template`)
        t.ok(
          inPath.every(p => p.required === true),
          'path parameters are required',
        )
        for (const tag of operation.tags ?? []) t.ok(declaredTags.has(tag), `tag ${tag} is declared`)
        if (operation.operationId !== undefined) {
          t.notOk(operationIds.has(operation.operationId), `operationId ${operation.operationId} is unique`)
          operationIds.add(operation.operationId)
        }
      }
    }
    const all = refs(doc)
    t.ok(all.length > 0, 'shared schemas are referenced')
    for (const [at, ref] of all) t.not(resolve(doc, ref), undefined, `${ref} (at ${at}) resolves`)
    t.ok(
      ['Problem', 'Project', 'Task'].every(name => name in doc.components.schemas),
      'components named after their schemas',
    )
  })

  t.test('every /api/v1 operation is listed, and nothing else under /api', async t => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map(method => `${method} ${path}`),
    )
    t.same(
      listed.filter(entry => entry.includes(' /api/')).sort(),
      V1_OPERATIONS.map(([method, path]) => `${method} ${path}`).sort(),
    )
    for (const [method, path] of V1_OPERATIONS) {
      const operation = doc.paths[path]![method]!
      t.match(operation.summary, /\S/, `${method} ${path} has a summary`)
      t.ok((operation.tags ?? []).length > 0, 'and a tag')
      const success = Object.keys(operation.responses).filter(status => status.startsWith('2'))
      t.same(
        success,
        [method === 'post' ? '201' : method === 'delete' ? '204' : '200'],
        `${method} ${path} success status`,
      )
      for (const status of ['400', '401', '403']) {
        const problem = operation.responses[status]?.content?.['application/problem+json']?.schema
        t.match(
          problem,
          { required: ['type', 'title', 'status', 'code'] },
          `${method} ${path} ${status} is documented as problem+json`,
        )
      }
      if (path.includes('{id}')) t.ok('404' in operation.responses, `${method} ${path} documents its 404`)
      if (method === 'post' || method === 'patch') {
        const requestBody = operation.requestBody
        t.equal(requestBody?.required, true)
        t.match(
          requestBody?.content['application/json']?.schema,
          { type: 'object', additionalProperties: false },
          'unknown fields are refused, and documented so',
        )
        t.ok('415' in operation.responses && '413' in operation.responses, 'documents 413 and 415')
      }
    }
  })

  t.test('list operations document their query parameters', async t => {
    const names = (method: string, path: string): string[] =>
      (doc.paths[path]![method]!.parameters ?? [])
        .filter(p => p.in === 'query')
        .map(p => p.name)
        .sort()
    const taskFilters = ['cursor', 'dueAfter', 'dueBefore', 'limit', 'priorityAtLeast', 'q', 'sort', 'status']
    t.same(names('get', '/api/v1/projects'), ['cursor', 'limit', 'q', 'sort'])
    t.same(names('get', '/api/v1/projects/{id}/tasks'), taskFilters)
    t.same(names('get', '/api/v1/tasks'), [...taskFilters, 'projectId'].sort())
    const sort = (path: string): unknown => doc.paths[path]!.get!.parameters!.find(p => p.name === 'sort')!.schema!.enum
    t.same(sort('/api/v1/projects'), ['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'name', '-name'])
    t.same(sort('/api/v1/tasks'), [
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
    ])
    // Typed, so Swagger UI shows a string enum (a drop-down), not "any".
    for (const path of ['/api/v1/projects', '/api/v1/tasks']) {
      t.match(doc.paths[path]!.get!.parameters!.find(p => p.name === 'sort')!.schema, { type: 'string', enum: Array })
    }
    t.match(doc.paths['/api/v1/tasks']!.get!.parameters!.find(p => p.name === 'status')!.schema, {
      type: 'string',
      enum: ['todo', 'in_progress', 'done'],
    })
    const untyped: unknown[] = []
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return
      if (Array.isArray((node as { enum?: unknown }).enum) && !('type' in node)) untyped.push(node)
      Object.values(node).forEach(walk)
    }
    walk(doc)
    t.same(untyped, [], 'no enum anywhere in the document without a type')
    const limit = doc.paths['/api/v1/projects']!.get!.parameters!.find(p => p.name === 'limit')!.schema
    t.match(limit, { type: 'integer', minimum: 1, maximum: 100 })
  })

  t.test('the API routes declare the edge login (HTTP basic, user@tenant); health and readiness do not', async t => {
    const schemes = (doc.components as { securitySchemes?: Record<string, unknown> }).securitySchemes ?? {}
    t.same(Object.keys(schemes), ['edgeLogin'])
    t.match(schemes.edgeLogin, { type: 'http', scheme: 'basic', description: /user@tenant/ })
    for (const [method, path] of V1_OPERATIONS) {
      t.same((doc.paths[path]![method] as { security?: unknown }).security, [{ edgeLogin: [] }], `${method} ${path}`)
    }
    for (const path of ['/health', '/ready']) {
      t.equal((doc.paths[path]?.get as { security?: unknown } | undefined)?.security, undefined, path)
    }
    t.equal((doc as { security?: unknown }).security, undefined, 'not document-wide')
  })

  t.test('the documented operations are the ones the app serves', async t => {
    const id = '0190a5f4-0000-7000-8000-000000000000'
    for (const [method, path] of V1_OPERATIONS) {
      const url = path.replace('{id}', id)
      const served = await app.inject({ method: method.toUpperCase() as 'GET', url })
      t.equal(served.statusCode, 401, `${method} ${url} exists and wants an identity (not a 404)`)
    }
  })

  t.test('Swagger UI and the YAML form are served', async t => {
    const ui = await app.inject({ method: 'GET', url: '/docs' })
    t.equal(ui.statusCode, 200)
    t.match(ui.headers['content-type'], /^text\/html/)
    const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' })
    t.equal(yaml.statusCode, 200)
    t.match(yaml.body, /^openapi: 3\.1/m)
  })
})
