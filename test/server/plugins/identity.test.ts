// Who is calling: only an identity the proxy signed is believed. Anything else is a 401 problem, whatever
// tenant the headers name. The request id is carried through responses and logs; secrets never reach logs.
import { Readable, Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { contentDigest, signIdentity } from '../../../common/identity-signature.ts'
import { loggerOptions } from '../../../common/logger.ts'
import { buildApp } from '../../../server/app.ts'
import { forEachBackend, type Backend, type TestTenant } from '../../helpers/backends.ts'
import { buildTestApp, callerFor, TEST_IDENTITY_SECRET, testConfig } from '../../helpers/build-app.ts'

interface SignedCall {
  tenant: string
  user?: string
  method?: string
  url?: string
  requestId?: string
  /** Signed as if at this time (ms since the epoch). */
  signedAt?: number
  secret?: string
  /** Sent instead of, or in addition to, what was signed. */
  headers?: Record<string, string | undefined>
  sentUrl?: string
  sentMethod?: string
  /** Signed and sent as a JSON body, unless `sentBody` replaces what is sent. */
  body?: string
  sentBody?: string | Readable
}

/** The headers of a call, as the proxy would send them (and an attacker could capture them). */
function headersFor(options: SignedCall): Record<string, string> {
  const method = options.method ?? 'GET'
  const url = options.url ?? '/api/v1/projects'
  const signed = signIdentity(
    options.secret ?? TEST_IDENTITY_SECRET,
    {
      tenant: options.tenant,
      user: options.user ?? 'alice',
      requestId: options.requestId ?? 'req-identity',
      method,
      url,
      body: options.body,
    },
    options.signedAt,
  )
  const json = (options.sentBody ?? options.body) !== undefined ? { 'content-type': 'application/json' } : {}
  return Object.fromEntries(
    Object.entries({ ...json, ...signed, ...options.headers }).filter(([, value]) => value !== undefined),
  ) as Record<string, string>
}

async function call(app: FastifyInstance, options: SignedCall) {
  const method = options.method ?? 'GET'
  const url = options.url ?? '/api/v1/projects'
  const payload = options.sentBody ?? options.body
  const headers = headersFor(options)
  return app.inject({
    method: (options.sentMethod ?? method) as 'GET',
    url: options.sentUrl ?? url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
  })
}

function assertRefused(t: Test, response: Awaited<ReturnType<typeof call>>, detail: RegExp, message: string): void {
  t.equal(response.statusCode, 401, message)
  t.match(response.headers['content-type'], /^application\/problem\+json/, message)
  t.match(
    response.json(),
    { type: 'urn:gatehouse:problem:unauthenticated', code: 'GH_UNAUTHENTICATED', status: 401, detail },
    message,
  )
}

/** An app whose JSON log lines are kept in `lines`. */
async function loggedApp(
  t: Test,
  backend: Backend,
  level = 'info',
): Promise<{ app: FastifyInstance; lines: Array<Record<string, unknown>>; raw: () => string }> {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  const app = await buildApp(testConfig(backend), {
    database: backend.database,
    logger: { ...loggerOptions('api', level), stream },
  })
  t.teardown(() => app.close())
  await app.ready()
  const raw = () => chunks.join('')
  return {
    app,
    get lines() {
      return raw()
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line) as Record<string, unknown>)
    },
    raw,
  }
}

forEachBackend(t, async (t, backend) => {
  const seedProject = async (tenant: TestTenant, app: FastifyInstance, name: string) => {
    const created = await callerFor(app, tenant).post('/api/v1/projects', { name })
    t.equal(created.statusCode, 201)
  }

  t.test('a signed identity is believed, and only for its own tenant', async t => {
    const app = await buildTestApp(t, backend)
    const [acme, globex] = [await backend.createTenant(), await backend.createTenant()]
    await seedProject(acme, app, 'Acme only')
    const mine = await call(app, { tenant: acme.slug })
    t.equal(mine.statusCode, 200)
    t.strictSame(
      mine.json().data.map((p: { name: string }) => p.name),
      ['Acme only'],
    )
    const theirs = await call(app, { tenant: globex.slug })
    t.strictSame(theirs.json().data, [], 'another tenant, correctly signed, sees none of it')
  })

  t.test('missing, malformed, stale or tampered identities are refused', async t => {
    const app = await buildTestApp(t, backend)
    const [acme, globex] = [await backend.createTenant(), await backend.createTenant()]
    await seedProject(acme, app, 'Secret plans')
    const now = Date.now()

    assertRefused(
      t,
      await app.inject({ method: 'GET', url: '/api/v1/projects' }),
      /through the Gatehouse proxy/,
      'no identity headers',
    )
    for (const header of ['x-gatehouse-tenant', 'x-gatehouse-user', 'x-gatehouse-timestamp', 'x-gatehouse-signature']) {
      assertRefused(
        t,
        await call(app, { tenant: acme.slug, headers: { [header]: undefined } }),
        /no signed identity/,
        `without ${header}`,
      )
    }
    assertRefused(
      t,
      await call(app, { tenant: acme.slug, headers: { 'x-gatehouse-timestamp': 'yesterday' } }),
      /malformed/,
      'timestamp not a number',
    )
    assertRefused(
      t,
      await call(app, { tenant: acme.slug, headers: { 'x-gatehouse-signature': 'v0=abc' } }),
      /malformed/,
      'unknown signature version',
    )
    const v1 = headersFor({ tenant: acme.slug })['x-gatehouse-signature']!.replace(/^v2=/, 'v1=')
    assertRefused(
      t,
      await call(app, { tenant: acme.slug, headers: { 'x-gatehouse-signature': v1 } }),
      /malformed/,
      'a v1 signature, which did not cover the body',
    )

    // The default window is 60 s either way (clocks drift in both directions).
    assertRefused(t, await call(app, { tenant: acme.slug, signedAt: now - 90_000 }), /expired/, 'signed 90 s ago')
    assertRefused(
      t,
      await call(app, { tenant: acme.slug, signedAt: now + 90_000 }),
      /expired/,
      'signed 90 s in the future',
    )
    t.equal(
      (await call(app, { tenant: acme.slug, signedAt: now - 30_000 })).statusCode,
      200,
      'signed 30 s ago is still fresh',
    )

    const tampered: Array<[string, SignedCall]> = [
      ['tenant header swapped', { tenant: globex.slug, headers: { 'x-gatehouse-tenant': acme.slug } }],
      ['user header swapped', { tenant: acme.slug, headers: { 'x-gatehouse-user': 'root' } }],
      ['request id swapped', { tenant: acme.slug, headers: { 'x-request-id': 'another-request' } }],
      [
        'timestamp moved',
        { tenant: acme.slug, headers: { 'x-gatehouse-timestamp': String(Math.floor(now / 1000) - 1) } },
      ],
      ['signed for another path', { tenant: acme.slug, url: '/api/v1/tasks', sentUrl: '/api/v1/projects' }],
      [
        'signed for another query',
        { tenant: acme.slug, url: '/api/v1/projects?limit=1', sentUrl: '/api/v1/projects?limit=100' },
      ],
      ['signed for another method', { tenant: acme.slug, method: 'DELETE', sentMethod: 'GET' }],
      ['signed with another secret', { tenant: acme.slug, secret: 'an-attacker-guess-that-is-32-characters-long' }],
      ['signature truncated', { tenant: acme.slug, headers: { 'x-gatehouse-signature': 'v2=AAAA' } }],
    ]
    for (const [why, options] of tampered) {
      const response = await call(app, options)
      assertRefused(t, response, /not valid/, why)
      t.notMatch(response.body, /Secret plans/, `${why}: nothing leaks`)
    }
  })

  t.test('the body is signed too: a captured identity does not carry another body', async t => {
    const app = await buildTestApp(t, backend)
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects'
    const signedBody = JSON.stringify({ name: 'Signed' })
    const names = async () => (await callerFor(app, tenant).get(url)).json().data.map((p: { name: string }) => p.name)
    const assertDigestRefused = (response: Awaited<ReturnType<typeof call>>, why: string) => {
      t.equal(response.statusCode, 400, why)
      t.match(response.headers['content-type'], /^application\/problem\+json/, why)
      t.match(
        response.json(),
        {
          type: 'urn:gatehouse:problem:body-digest-mismatch',
          code: 'GH_BODY_DIGEST_MISMATCH',
          status: 400,
          instance: url,
        },
        why,
      )
    }

    const proxied: SignedCall = { tenant: tenant.slug, method: 'POST', url, body: signedBody, requestId: 'req-body-1' }
    const replay = headersFor(proxied)
    t.equal(
      (await app.inject({ method: 'POST', url, headers: replay, payload: signedBody })).statusCode,
      201,
      'the signed body is written',
    )
    t.match(replay['content-digest'], /^sha-256=:[A-Za-z0-9+/]{43}=:$/, 'with its RFC 9530 digest')

    // The very headers the proxy sent, replayed with another body: the digest they carry is not this body's.
    const swapped = await app.inject({
      method: 'POST',
      url,
      headers: replay,
      payload: JSON.stringify({ name: 'Replayed' }),
    })
    assertDigestRefused(swapped, 'the same headers with another body')
    const longer = await app.inject({ method: 'POST', url, headers: replay, payload: `${signedBody} ` })
    assertDigestRefused(longer, 'the signed body with a byte more (and its length)')
    const stripped = await app.inject({ method: 'POST', url, headers: { ...replay, 'content-length': '0' } })
    assertDigestRefused(stripped, 'the signed body stripped')

    // Anything sent with a body must have it signed: the digest header is covered by the MAC.
    const other = JSON.stringify({ name: 'Unsigned' })
    assertRefused(
      t,
      await call(app, { tenant: tenant.slug, method: 'POST', url, sentBody: other }),
      /covers none/,
      'a body with no signed digest',
    )
    assertRefused(
      t,
      await call(app, {
        tenant: tenant.slug,
        method: 'POST',
        url,
        sentBody: other,
        headers: { 'content-digest': contentDigest(other) },
      }),
      /not valid/,
      'a digest of the body sent, added after signing',
    )
    assertRefused(
      t,
      await call(app, {
        tenant: tenant.slug,
        method: 'POST',
        url,
        body: signedBody,
        sentBody: other,
        headers: { 'content-digest': contentDigest(other) },
      }),
      /not valid/,
      'the signed digest replaced by the digest of the body sent',
    )
    assertRefused(
      t,
      await call(app, {
        tenant: tenant.slug,
        method: 'POST',
        url,
        body: signedBody,
        headers: { 'content-digest': `${contentDigest(signedBody)}, sha-512=:AAAA:` },
      }),
      /malformed/,
      'a digest the proxy does not send',
    )
    assertRefused(
      t,
      await call(app, {
        tenant: tenant.slug,
        method: 'POST',
        url,
        sentBody: other,
        headers: { 'content-type': 'text/plain' },
      }),
      /covers none/,
      'any body, whatever its type',
    )

    t.strictSame(await names(), ['Signed'], 'nothing refused was written')
  })

  t.test('a chunked body (no Content-Length) is checked as it streams', async t => {
    const app = await buildTestApp(t, backend)
    const tenant = await backend.createTenant()
    const body = JSON.stringify({ name: 'Chunked' })
    const chunked = (parts: string[]) => Readable.from(parts.map(part => Buffer.from(part)))
    const sent = await call(app, {
      tenant: tenant.slug,
      method: 'POST',
      url: '/api/v1/projects',
      body,
      sentBody: chunked([body.slice(0, 5), body.slice(5)]),
      headers: { 'transfer-encoding': 'chunked' },
    })
    t.equal(sent.statusCode, 201, sent.body)
    t.equal(sent.json().name, 'Chunked')
    const other = JSON.stringify({ name: 'Chunkee' })
    const refused = await call(app, {
      tenant: tenant.slug,
      method: 'POST',
      url: '/api/v1/projects',
      body,
      sentBody: chunked([other.slice(0, 5), other.slice(5)]),
      headers: { 'transfer-encoding': 'chunked' },
    })
    t.equal(refused.statusCode, 400)
    t.match(refused.json(), { code: 'GH_BODY_DIGEST_MISMATCH' })
    t.strictSame(
      (await callerFor(app, tenant).get('/api/v1/projects')).json().data.map((p: { name: string }) => p.name),
      ['Chunked'],
    )
  })

  t.test('GraphQL checks the body it executes', async t => {
    const app = await buildTestApp(t, backend)
    const tenant = await backend.createTenant()
    const mutation = (name: string) =>
      JSON.stringify({ query: `mutation { createProject(input: { name: "${name}" }) { name } }` })
    const captured = headersFor({ tenant: tenant.slug, method: 'POST', url: '/graphql', body: mutation('Signed') })
    const created = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: captured,
      payload: mutation('Signed'),
    })
    t.equal(created.statusCode, 200, created.body)
    t.same(created.json(), { data: { createProject: { name: 'Signed' } } })

    const replayed = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: captured,
      payload: mutation('Replayed'),
    })
    t.equal(replayed.statusCode, 400)
    t.match(
      replayed.headers['content-type'],
      /^application\/problem\+json/,
      'refused as the API refuses an identity, not as a GraphQL error',
    )
    t.match(replayed.json(), { type: 'urn:gatehouse:problem:body-digest-mismatch', code: 'GH_BODY_DIGEST_MISMATCH' })
    assertRefused(
      t,
      await call(app, { tenant: tenant.slug, method: 'POST', url: '/graphql', sentBody: mutation('Unsigned') }),
      /covers none/,
      'GraphQL: a body with no signed digest',
    )

    const listed = await call(app, {
      tenant: tenant.slug,
      method: 'POST',
      url: '/graphql',
      body: JSON.stringify({ query: '{ projects(first: 10) { nodes { name } } }' }),
    })
    t.same(listed.json(), { data: { projects: { nodes: [{ name: 'Signed' }] } } }, 'only the signed mutation ran')
  })

  t.test('a tenant named by the client without a valid signature is never believed', async t => {
    const app = await buildTestApp(t, backend)
    const victim = await backend.createTenant()
    await seedProject(victim, app, 'Victim roadmap')
    for (const headers of [
      { 'x-gatehouse-tenant': victim.slug, 'x-gatehouse-user': 'mallory' },
      {
        'x-gatehouse-tenant': victim.slug,
        'x-gatehouse-user': 'mallory',
        'x-gatehouse-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-gatehouse-signature': 'v2=',
      },
      { 'x-tenant-id': victim.id, 'x-forwarded-user': 'mallory@' + victim.slug },
    ]) {
      const response = await app.inject({ method: 'GET', url: '/api/v1/projects', headers })
      t.equal(response.statusCode, 401, JSON.stringify(headers))
      t.notMatch(response.body, /Victim roadmap/)
    }
    const graphql = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', 'x-gatehouse-tenant': victim.slug, 'x-gatehouse-user': 'mallory' },
      payload: JSON.stringify({ query: '{ projects(first: 5) { nodes { name } } }' }),
    })
    t.notMatch(graphql.body, /Victim roadmap/, 'GraphQL does not believe it either')
    t.equal(graphql.statusCode, 401)
    t.match(graphql.headers['content-type'], /^application\/problem\+json/)
  })

  t.test('a correctly signed identity for a tenant that does not exist is 403 unknown-tenant', async t => {
    const app = await buildTestApp(t, backend)
    const response = await call(app, { tenant: 'no-such-tenant-here' })
    t.equal(response.statusCode, 403)
    t.match(response.json(), { type: 'urn:gatehouse:problem:unknown-tenant', code: 'GH_UNKNOWN_TENANT' })
  })

  t.test('the request id is echoed, kept in problems and on every log line of the request', async t => {
    const logged = await loggedApp(t, backend)
    const tenant = await backend.createTenant()
    const ok = await call(logged.app, { tenant: tenant.slug, requestId: 'edge-7f3a.42' })
    t.equal(ok.statusCode, 200)
    t.equal(ok.headers['x-request-id'], 'edge-7f3a.42')

    const refused = await logged.app.inject({
      method: 'GET',
      url: '/api/v1/projects',
      headers: { 'x-request-id': 'edge-7f3a.43' },
    })
    t.equal(refused.headers['x-request-id'], 'edge-7f3a.43')
    t.equal(refused.json().requestId, 'edge-7f3a.43')

    const lines = logged.lines
    const okLines = lines.filter(line => line.reqId === 'edge-7f3a.42')
    t.ok(
      okLines.some(line => line.msg === 'incoming request'),
      'the request is logged with its id',
    )
    t.ok(
      okLines.some(
        line => line.msg === 'request completed' && (line.res as { statusCode?: number })?.statusCode === 200,
      ),
    )
    const refusal = lines.find(
      line => line.reqId === 'edge-7f3a.43' && line.msg === 'refused request without a valid identity signature',
    )
    t.match(
      refusal,
      { level: 'warn', reason: 'missing', service: 'api' },
      'a refusal is logged as a warning with its reason',
    )

    // Ids that could forge log lines or headers are replaced by a fresh one.
    for (const bad of ['has spaces', 'x'.repeat(129), '{"msg":"forged"}']) {
      const response = await logged.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } })
      t.match(response.headers['x-request-id'], /^[0-9a-f-]{36}$/, `replaced: ${JSON.stringify(bad.slice(0, 20))}`)
    }
  })

  t.test('credentials and signatures never reach the logs, even at trace level', async t => {
    const logged = await loggedApp(t, backend, 'trace')
    const tenant = await backend.createTenant()
    const secrets = {
      authorization: 'Basic YWxpY2U6aHVudGVyMg==',
      cookie: 'session=cookie-secret-value',
      'proxy-authorization': 'Bearer proxy-secret-token',
    }
    const ok = await call(logged.app, { tenant: tenant.slug, headers: secrets })
    t.equal(ok.statusCode, 200)
    const refused = await logged.app.inject({
      method: 'GET',
      url: '/api/v1/projects',
      headers: { ...secrets, 'x-gatehouse-signature': 'v1=forged-signature-value' },
    })
    t.equal(refused.statusCode, 401)
    const signature = signIdentity(TEST_IDENTITY_SECRET, {
      tenant: tenant.slug,
      user: 'alice',
      requestId: 'req-identity',
      method: 'GET',
      url: '/api/v1/projects',
    })['x-gatehouse-signature']!
    const text = logged.raw()
    t.ok(text.length > 0, 'something was logged')
    for (const value of [
      ...Object.values(secrets),
      'YWxpY2U6aHVudGVyMg',
      'cookie-secret-value',
      'forged-signature-value',
      signature.slice(3),
      TEST_IDENTITY_SECRET,
    ]) {
      t.notMatch(text, value, `${value.slice(0, 12)}… is not in the logs`)
    }
  })
})
