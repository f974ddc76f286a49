// Replays what an attacker on the internal hop could capture: a signed header set, sent again with another body
// to the API listening on a port. The signature covers the body's digest, so every variant is refused as
// problem+json and nothing is written; a body nobody reads does not stall its keep-alive connection.
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'undici'
import { contentDigest, signIdentity } from '../../common/identity-signature.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'

interface Answer {
  status: number
  type: string
  body: string
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)
  await app.listen({ host: '127.0.0.1', port: 0 })
  let connections = 0
  app.server.on('connection', () => {
    connections++
  })
  const { port } = app.server.address() as { port: number }
  const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1, keepAliveTimeout: 60_000 })
  t.teardown(() => client.close())

  const send = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string | Readable,
  ): Promise<Answer> => {
    // A stalled connection fails the test here rather than at tap's timeout.
    const response = await client.request({
      method: method as 'POST',
      path,
      headers,
      body,
      signal: AbortSignal.timeout(10_000),
    })
    return {
      status: response.statusCode,
      type: String(response.headers['content-type']),
      body: await response.body.text(),
    }
  }
  const signed = (tenant: string, method: string, url: string, body?: string): Record<string, string> => {
    const requestId = `replay-${Math.random().toString(36).slice(2)}`
    return {
      'content-type': 'application/json',
      ...signIdentity(TEST_IDENTITY_SECRET, { tenant, user: 'mallory', requestId, method, url, body }),
    }
  }
  const stored = async (tenantId: string): Promise<string[]> => {
    const rows = await backend.asOwner(s =>
      s.query<{ name: string }>('SELECT name FROM projects WHERE tenant_id = $1 ORDER BY name', [tenantId]),
    )
    return rows.map(row => row.name)
  }
  const problem = (answer: Answer, status: number, slug: string, why: string): void => {
    t.equal(answer.status, status, `${why}: ${answer.body}`)
    t.match(answer.type, /^application\/problem\+json/, `${why}: problem+json`)
    t.match(JSON.parse(answer.body), { type: `urn:gatehouse:problem:${slug}`, status }, why)
  }

  t.test('a captured header set is good for its own body only', async t => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects'
    const body = JSON.stringify({ name: 'Quarterly plan' })
    const captured = signed(tenant.slug, 'POST', url, body)
    t.equal((await send('POST', url, captured, body)).status, 201, 'the request the proxy signed')

    const other = JSON.stringify({ name: 'Ransom note' })
    const chunked = Readable.from([Buffer.from(other)])
    problem(await send('POST', url, captured, other), 400, 'body-digest-mismatch', 'the same headers, another body')
    problem(
      await send('POST', url, captured, chunked),
      400,
      'body-digest-mismatch',
      'the same headers, another body, chunked',
    )
    const rewritten = { ...captured, 'content-digest': contentDigest(other) }
    problem(await send('POST', url, rewritten, other), 401, 'unauthenticated', 'the digest rewritten to match')
    const { 'content-digest': _dropped, ...undigested } = captured
    problem(await send('POST', url, undigested, other), 401, 'unauthenticated', 'the digest dropped')
    const bodiless = signed(tenant.slug, 'POST', url)
    problem(await send('POST', url, bodiless, other), 401, 'unauthenticated', 'signed without a body, sent with one')

    const mutation = (name: string): string =>
      JSON.stringify({ query: `mutation { createProject(input: { name: "${name}" }) { id } }` })
    const graphql = signed(tenant.slug, 'POST', '/graphql', mutation('Via GraphQL'))
    problem(
      await send('POST', '/graphql', graphql, mutation('Ransom via GraphQL')),
      400,
      'body-digest-mismatch',
      'GraphQL, another body',
    )
    t.equal((await send('POST', '/graphql', graphql, mutation('Via GraphQL'))).status, 200, 'GraphQL, its own body')

    t.strictSame(await stored(tenant.id), ['Quarterly plan', 'Via GraphQL'], 'only the signed bodies were written')
  })

  t.test('a chunked body (no Content-Length) verifies as it streams', async t => {
    const tenant = await backend.createTenant()
    const body = JSON.stringify({ name: 'Streamed in parts' })
    const parts = Readable.from([body.slice(0, 7), body.slice(7, 12), body.slice(12)].map(part => Buffer.from(part)))
    const answer = await send('POST', '/api/v1/projects', signed(tenant.slug, 'POST', '/api/v1/projects', body), parts)
    t.equal(answer.status, 201, answer.body)
    t.strictSame(await stored(tenant.id), ['Streamed in parts'])
  })

  t.test('a client that goes away halfway through a signed body takes nothing down with it', async t => {
    const tenant = await backend.createTenant()
    const body = JSON.stringify({ name: 'Never finished' })
    const head = [
      'POST /api/v1/projects HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Transfer-Encoding: chunked',
      ...Object.entries(signed(tenant.slug, 'POST', '/api/v1/projects', body)).map(
        ([name, value]) => `${name}: ${value}`,
      ),
    ].join('\r\n')
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>(resolve => socket.once('connect', resolve))
    socket.write(`${head}\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n`)
    await sleep(100)
    socket.destroy()
    await sleep(100)
    t.equal(
      (await send('GET', '/api/v1/projects', signed(tenant.slug, 'GET', '/api/v1/projects'))).status,
      200,
      'the API still serves',
    )
    t.strictSame(await stored(tenant.id), [])
  })

  t.test('a signed body no parser reads (a 415) is discarded, and the connection still serves', async t => {
    const tenant = await backend.createTenant()
    const body = 'x'.repeat(200_000)
    const headers = { ...signed(tenant.slug, 'POST', '/api/v1/projects', body), 'content-type': 'text/plain' }
    problem(
      await send('POST', '/api/v1/projects', headers, body),
      415,
      'unsupported-media-type',
      'a type the API does not take',
    )
    const opened = connections
    const list = await send('GET', '/api/v1/projects', signed(tenant.slug, 'GET', '/api/v1/projects'))
    t.equal(list.status, 200, 'the next request on the connection is answered')
    t.equal(connections, opened, 'on the same connection, not a new one')
  })
})
