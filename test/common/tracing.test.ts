// One trace per request from the edge through the API to the database: the real proxy and API over real
// sockets, both exporting OTLP/HTTP (JSON) to a local receiver, then closed so that they flush. The spans
// must link by id — client → proxy server span → proxy upstream call → API server span → Prisma's spans —
// and carry the client's trace id all the way down.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { forEachBackend } from '../helpers/backends.ts'
import { startEdgeStack } from '../helpers/edge-stack.ts'

interface ReceivedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, unknown>
}

// OTLP's SpanKind numbers.
const SERVER = 2
const CLIENT = 3

interface OtlpValue {
  stringValue?: string
  intValue?: string | number
  boolValue?: boolean
}
interface OtlpAttribute {
  key: string
  value: OtlpValue
}
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes?: OtlpAttribute[]
}
interface OtlpExport {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>
}

const valueOf = (value: OtlpValue): unknown =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue)
const attributesOf = (attributes: OtlpAttribute[] = []): Record<string, unknown> =>
  Object.fromEntries(attributes.map(attribute => [attribute.key, valueOf(attribute.value)]))

/** A collector's OTLP/HTTP trace endpoint on loopback, keeping what it is sent. */
async function startOtlpReceiver(t: Test): Promise<{ url: string; spans: ReceivedSpan[]; contentTypes: string[] }> {
  const spans: ReceivedSpan[] = []
  const contentTypes: string[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      contentTypes.push(String(request.headers['content-type']))
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport
      for (const resourceSpans of body.resourceSpans) {
        const service = String(attributesOf(resourceSpans.resource.attributes)['service.name'])
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
            })
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, contentTypes }
}

/** The span's ancestors, nearest first, following parent ids through everything received. */
function ancestors(span: ReceivedSpan, all: ReceivedSpan[]): ReceivedSpan[] {
  const chain: ReceivedSpan[] = []
  let parent = all.find(candidate => candidate.spanId === span.parentSpanId)
  while (parent !== undefined && chain.length < 50) {
    chain.push(parent)
    const current: ReceivedSpan = parent
    parent = all.find(candidate => candidate.spanId === current.parentSpanId)
  }
  return chain
}

/** Every span below `root` by parent links, whatever trace id it claims. */
function descendants(root: ReceivedSpan, all: ReceivedSpan[]): ReceivedSpan[] {
  return all.filter(span => ancestors(span, all).includes(root))
}

forEachBackend(t, async (t, backend) => {
  const receiver = await startOtlpReceiver(t)
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
  const stack = await startEdgeStack(t, backend, otel, { apiEnv: otel })
  const alice = await stack.addLogin()

  // Three requests, each with its own client trace: a read, a write (its body is read from a stream
  // before the handler runs) and a GraphQL query (resolvers and loaders).
  const calls = [
    { path: '/api/v1/projects', method: 'GET', status: 200, apiSpan: 'GET /api/v1/projects' },
    // Padded so that the body arrives in several chunks, after the hooks that run on the request's headers.
    {
      path: '/api/v1/projects',
      method: 'POST',
      body: JSON.stringify({ name: 'Traced' }) + ' '.repeat(512 * 1024),
      status: 201,
      apiSpan: 'POST /api/v1/projects',
    },
    {
      path: '/graphql',
      method: 'POST',
      body: JSON.stringify({ query: '{ projects { nodes { id name } } }' }),
      status: 200,
      apiSpan: 'POST /graphql',
    },
  ].map(call => ({ ...call, traceId: randomBytes(16).toString('hex'), clientSpanId: randomBytes(8).toString('hex') }))

  for (const call of calls) {
    const response = await stack.request(call.path, {
      as: alice,
      method: call.method,
      // HTTP/1.1: an idle keep-alive socket does not hold up closing the proxy, an open HTTP/2 session would.
      http2: false,
      headers: { traceparent: `00-${call.traceId}-${call.clientSpanId}-01` },
      ...(call.body !== undefined ? { body: call.body } : {}),
    })
    t.equal(response.status, call.status, `${call.method} ${call.path} answered`)
  }

  // Closing flushes: every span must have been exported by the time both apps have closed.
  await stack.proxy.close()
  await stack.api.close()
  t.ok(
    receiver.contentTypes.length > 0 && receiver.contentTypes.every(type => type === 'application/json'),
    'spans arrived as OTLP/HTTP JSON',
  )
  const all = receiver.spans

  for (const call of calls) {
    t.test(`${call.method} ${call.path}`, async t => {
      const edge = all.filter(
        span => span.service === 'gatehouse-proxy' && span.kind === SERVER && span.parentSpanId === call.clientSpanId,
      )
      t.equal(edge.length, 1, "the proxy records one server span, a child of the client's span")
      const edgeSpan = edge[0]!
      t.equal(edgeSpan.traceId, call.traceId, "in the client's trace")
      t.match(edgeSpan.attributes, {
        'http.request.method': call.method,
        'http.response.status_code': call.status,
        'gatehouse.tenant': alice.tenant.slug,
      })

      const below = descendants(edgeSpan, all)
      t.ok(below.length >= 3, 'the upstream call, the API and the database are beneath it')
      t.strictSame(
        below.filter(span => span.traceId !== call.traceId),
        [],
        "every span beneath it carries the client's trace id",
      )

      const apiSpans = below.filter(span => span.service === 'gatehouse-api' && span.kind === SERVER)
      t.equal(apiSpans.length, 1, 'the API records one server span for the request')
      const apiSpan = apiSpans[0]!
      t.equal(apiSpan.name, call.apiSpan, 'named by method and route')
      t.equal(apiSpan.attributes['http.response.status_code'], call.status)
      const apiParent = all.find(span => span.spanId === apiSpan.parentSpanId)
      t.equal(apiParent?.service, 'gatehouse-proxy', "the API span's parent is a proxy span")
      t.equal(apiParent?.kind, CLIENT, "the proxy's call to the API")
      t.equal(apiParent?.parentSpanId, edgeSpan.spanId, "which belongs to the proxy's server span")

      const queries = all.filter(
        span => span.name === 'prisma:client:db_query' && ancestors(span, all).includes(apiSpan),
      )
      t.ok(queries.length > 0, 'database queries are recorded beneath the API span')
      t.ok(
        queries.every(span => span.service === 'gatehouse-api' && span.traceId === call.traceId),
        'by the API, in the same trace',
      )
      const setsTenant = queries.some(span =>
        /set_config\('app\.tenant_id'/.test(String(span.attributes['db.query.text'])),
      )
      // On Postgres the setting travels in the first statement's message (server/db/tenant-lanes.ts), not as a query of
      // Prisma's.
      if (backend.name === 'pglite') t.ok(setsTenant, "including the tenant transaction's set_config")
      else t.notOk(setsTenant, 'the tenant setting is no query of its own: it travels with the first statement')
    })
  }

  t.test('a request without a traceparent starts a new trace at the edge', async t => {
    // addLogin's probe sent none.
    const roots = all.filter(
      span =>
        span.service === 'gatehouse-proxy' &&
        span.kind === SERVER &&
        span.parentSpanId === '' &&
        span.attributes['http.response.status_code'] === 200,
    )
    t.ok(roots.length > 0, 'a proxy server span without a parent (the probe that got through)')
    const root = roots[0]!
    t.notOk(
      calls.some(call => call.traceId === root.traceId),
      'in a trace of its own',
    )
    t.ok(
      descendants(root, all).some(span => span.service === 'gatehouse-api' && span.traceId === root.traceId),
      'which the API joins',
    )
  })
})
