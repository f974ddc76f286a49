// The serverless entry: API Gateway (HTTP API, payload 2.0) events through the same app as the plain server.
import t from 'tap'
import { signIdentity } from '../../common/identity-signature.ts'
import { createLambdaHandler, type ApiGatewayEvent, type LambdaEntry } from '../../server/lambda.ts'
import { forEachBackend, type Backend } from '../helpers/backends.ts'
import { TEST_IDENTITY_SECRET, testConfig } from '../helpers/build-app.ts'

interface EventInput {
  method: string
  path: string
  rawQueryString?: string
  headers?: Record<string, string>
  body?: string
  isBase64Encoded?: boolean
}

/** An event shaped as API Gateway delivers it, including the decoded copy of the query string. */
function gatewayEvent(input: EventInput): ApiGatewayEvent {
  const rawQueryString = input.rawQueryString ?? ''
  const decoded = Object.fromEntries(new URLSearchParams(rawQueryString))
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: input.path,
    rawQueryString,
    headers: {
      accept: 'application/json',
      host: 'r3pmxmplak.execute-api.eu-west-1.amazonaws.com',
      'user-agent': 'gatehouse-proxy',
      'x-amzn-trace-id': 'Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...input.headers,
    },
    ...(rawQueryString !== '' ? { queryStringParameters: decoded } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'r3pmxmplak',
      domainName: 'r3pmxmplak.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'r3pmxmplak',
      http: {
        method: input.method,
        path: input.path,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'gatehouse-proxy',
      },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: '$default',
      stage: '$default',
      time: '10/Mar/2026:13:40:52 +0000',
      timeEpoch: 1_773_150_052_000,
    },
    ...(input.body !== undefined
      ? { body: input.body, isBase64Encoded: input.isBase64Encoded ?? false }
      : { isBase64Encoded: false }),
  }
}

const context = {
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  functionName: 'gatehouse-api',
  getRemainingTimeInMillis: () => 30_000,
}

function signed(tenant: string, method: string, url: string, requestId: string, body?: string): Record<string, string> {
  return signIdentity(TEST_IDENTITY_SECRET, { tenant, user: 'alice', requestId, method, url, body })
}

function entryFor(t: Parameters<Parameters<typeof forEachBackend>[1]>[0], backend: Backend): LambdaEntry {
  const entry = createLambdaHandler(() => ({ config: testConfig(backend), options: { database: backend.database } }))
  t.teardown(() => entry.close())
  return entry
}

forEachBackend(t, async (t, backend) => {
  t.test('a signed create then a filtered list, with the query string exactly as the proxy signed it', async t => {
    const { handler } = entryFor(t, backend)
    const tenant = await backend.createTenant()

    const body = JSON.stringify({ name: 'Launch plan' })
    const created = await handler(
      gatewayEvent({
        method: 'POST',
        path: '/api/v1/projects',
        headers: {
          'content-type': 'application/json',
          ...signed(tenant.slug, 'POST', '/api/v1/projects', 'req-create-1', body),
        },
        // API Gateway base64-encodes bodies it does not recognise as text; the adapter must decode them.
        body: Buffer.from(body).toString('base64'),
        isBase64Encoded: true,
      }),
      context,
    )
    t.equal(created.statusCode, 201, created.body)
    const project = JSON.parse(created.body) as { id: string; name: string }
    t.equal(project.name, 'Launch plan')
    t.equal(created.headers.location, `/api/v1/projects/${project.id}`)
    t.equal(created.headers['cache-control'], 'no-store')
    t.equal(created.headers['x-request-id'], 'req-create-1')

    // %20 is what a client sends; rebuilding the URL from the decoded parameters would give `+` and break the
    // signature.
    const url = '/api/v1/projects?q=Launch%20plan&limit=5'
    const listed = await handler(
      gatewayEvent({
        method: 'GET',
        path: '/api/v1/projects',
        rawQueryString: 'q=Launch%20plan&limit=5',
        headers: signed(tenant.slug, 'GET', url, 'req-list-1'),
      }),
      context,
    )
    t.equal(listed.statusCode, 200, listed.body)
    t.match(listed.headers['content-type'], /^application\/json/)
    t.equal(listed.headers['cache-control'], 'max-age=0, s-maxage=5, stale-if-error=60')
    t.match(listed.headers.etag, /^(W\/)?"/)
    t.equal(listed.isBase64Encoded, false)
    t.strictSame(JSON.parse(listed.body), { data: [project], next: null })
    for (const value of Object.values(listed.headers)) {
      t.type(value, 'string', 'API Gateway accepts only string header values')
    }
  })

  t.test('an unsigned event is refused with 401 problem+json, however it names a tenant', async t => {
    const { handler } = entryFor(t, backend)
    const tenant = await backend.createTenant()
    const response = await handler(
      gatewayEvent({
        method: 'GET',
        path: '/api/v1/projects',
        headers: { 'x-gatehouse-tenant': tenant.slug, 'x-gatehouse-user': 'mallory', 'x-request-id': 'req-unsigned-1' },
      }),
      context,
    )
    t.equal(response.statusCode, 401)
    t.match(response.headers['content-type'], /^application\/problem\+json/)
    t.match(JSON.parse(response.body), {
      type: 'urn:gatehouse:problem:unauthenticated',
      status: 401,
      code: 'GH_UNAUTHENTICATED',
      requestId: 'req-unsigned-1',
      instance: '/api/v1/projects',
    })
  })

  t.test('a signature for another URL does not verify through the adapter either', async t => {
    const { handler } = entryFor(t, backend)
    const tenant = await backend.createTenant()
    const response = await handler(
      gatewayEvent({
        method: 'GET',
        path: '/api/v1/projects',
        rawQueryString: 'limit=100',
        headers: signed(tenant.slug, 'GET', '/api/v1/projects?limit=1', 'req-replay-1'),
      }),
      context,
    )
    t.equal(response.statusCode, 401)
  })

  t.test('the whole body API Gateway delivers is checked against the signed digest', async t => {
    const { handler } = entryFor(t, backend)
    const tenant = await backend.createTenant()
    const body = JSON.stringify({ name: 'Signed' })
    const headers = {
      'content-type': 'application/json',
      ...signed(tenant.slug, 'POST', '/api/v1/projects', 'req-digest-1', body),
    }
    const replayed = await handler(
      gatewayEvent({ method: 'POST', path: '/api/v1/projects', headers, body: JSON.stringify({ name: 'Replayed' }) }),
      context,
    )
    t.equal(replayed.statusCode, 400, replayed.body)
    t.match(replayed.headers['content-type'], /^application\/problem\+json/)
    t.match(JSON.parse(replayed.body), {
      type: 'urn:gatehouse:problem:body-digest-mismatch',
      code: 'GH_BODY_DIGEST_MISMATCH',
    })
    const unsigned = await handler(
      gatewayEvent({
        method: 'POST',
        path: '/api/v1/projects',
        body: JSON.stringify({ name: 'Unsigned' }),
        headers: {
          'content-type': 'application/json',
          ...signed(tenant.slug, 'POST', '/api/v1/projects', 'req-digest-2'),
        },
      }),
      context,
    )
    t.equal(unsigned.statusCode, 401, 'a body the signature does not cover')

    const query = JSON.stringify({ query: '{ projects(first: 5) { nodes { name } } }' })
    const graphql = (sent: string) =>
      handler(
        gatewayEvent({
          method: 'POST',
          path: '/graphql',
          body: sent,
          headers: {
            'content-type': 'application/json',
            ...signed(tenant.slug, 'POST', '/graphql', 'req-digest-3', query),
          },
        }),
        context,
      )
    t.equal((await graphql(query)).statusCode, 200, 'GraphQL through the adapter, signed')
    t.equal((await graphql(query.replace('first: 5', 'first: 6'))).statusCode, 400, 'and refused with another body')

    const listed = await handler(
      gatewayEvent({
        method: 'GET',
        path: '/api/v1/projects',
        headers: signed(tenant.slug, 'GET', '/api/v1/projects', 'req-digest-4'),
      }),
      context,
    )
    t.strictSame(JSON.parse(listed.body).data, [], 'nothing was written')
  })

  t.test('the app is built once per cold start and reused by warm invocations', async t => {
    let builds = 0
    const entry = createLambdaHandler(() => {
      builds++
      return { config: testConfig(backend), options: { database: backend.database } }
    })
    t.teardown(() => entry.close())
    const health = gatewayEvent({ method: 'GET', path: '/health' })
    const first = await Promise.all([entry.handler(health, context), entry.handler(health, context)])
    const warm = await entry.handler(health, context)
    t.strictSame(
      [...first, warm].map(answer => answer.statusCode),
      [200, 200, 200],
    )
    t.strictSame(JSON.parse(warm.body), { status: 'ok' })
    t.equal(builds, 1, 'concurrent first invocations share one build')
  })

  t.test('a failed cold start is not cached: the next invocation builds again', async t => {
    let attempts = 0
    const entry = createLambdaHandler(() => {
      attempts++
      if (attempts === 1) throw new Error('database not reachable yet')
      return { config: testConfig(backend), options: { database: backend.database } }
    })
    t.teardown(() => entry.close())
    const health = gatewayEvent({ method: 'GET', path: '/health' })
    await t.rejects(entry.handler(health, context), /database not reachable yet/)
    t.equal((await entry.handler(health, context)).statusCode, 200)
    t.equal(attempts, 2)
  })
})
