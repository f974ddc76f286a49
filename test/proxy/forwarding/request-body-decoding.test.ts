// Compressed request bodies: decoded at the edge (gzip, br, zstd), the decoded size held to BODY_LIMIT_BYTES (a
// zip bomb is 413 problem+json, not memory), other codings 415, garbage 400; the API receives, and the identity
// signature covers, the decoded body — end to end through the real API too.
import t from 'tap'
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib'
import { contentDigest } from '../../../common/identity-signature.ts'
import { pgliteBackend } from '../../helpers/backends.ts'
import { startEdgeStack } from '../../helpers/edge-stack.ts'
import { startScriptedStack } from '../../helpers/scripted-upstream.ts'

const BODY = Buffer.from(JSON.stringify({ name: 'Compressed project', description: 'x'.repeat(5000) }))
const CODERS: Array<[string, (body: Buffer) => Buffer]> = [
  ['gzip', gzipSync],
  ['x-gzip', gzipSync],
  ['br', brotliCompressSync],
  ['zstd', zstdCompressSync],
]

t.test('what reaches the API: the decoded body, its length and digest, no Content-Encoding', async t => {
  const stack = await startScriptedStack(t, { BODY_LIMIT_BYTES: '65536' })
  const [alice] = stack.logins
  stack.respond((request, response, body) => {
    response.writeHead(201, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ length: body.length }))
  })
  for (const http2 of [true, false]) {
    for (const [coding, encode] of CODERS) {
      const coded = encode(BODY)
      const response = await stack.request('/api/v1/projects', {
        as: alice,
        method: 'POST',
        http2,
        body: coded,
        headers: { 'content-encoding': coding },
      })
      const what = `${coding} over HTTP/${http2 ? 2 : 1.1}`
      t.equal(response.status, 201, what)
      const seen = stack.seen.at(-1)!
      t.equal(
        response.json().length,
        BODY.length,
        `${what}: the API read ${BODY.length} bytes, not the ${coded.length} sent`,
      )
      t.equal(seen.headers['content-encoding'], undefined, `${what}: no coding left to undo`)
      t.equal(seen.headers['content-length'], String(BODY.length))
      t.equal(seen.headers['content-digest'], contentDigest(BODY), `${what}: the signed digest is the decoded body's`)
    }
  }
})

t.test('refusals: a zip bomb, codings not spoken, bodies that are not what they claim', async t => {
  const stack = await startScriptedStack(t, { BODY_LIMIT_BYTES: '65536' })
  const [alice] = stack.logins
  const bombs: Array<[string, Buffer]> = [
    ['gzip', gzipSync(Buffer.alloc(16 * 1024 * 1024))],
    ['br', brotliCompressSync(Buffer.alloc(16 * 1024 * 1024))],
    ['zstd', zstdCompressSync(Buffer.alloc(16 * 1024 * 1024))],
    ['gzip', gzipSync(Buffer.alloc(65_537, 'a'))],
  ]
  for (const http2 of [true, false]) {
    for (const [coding, bomb] of bombs) {
      const before = process.memoryUsage().rss
      const response = await stack.request('/api/v1/projects', {
        as: alice,
        method: 'POST',
        http2,
        body: bomb,
        headers: { 'content-encoding': coding },
      })
      t.equal(response.status, 413, `${bomb.length} bytes of ${coding} decoding past the limit`)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(response.json(), {
        type: 'urn:gatehouse:problem:payload-too-large',
        status: 413,
        code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      })
      t.ok(process.memoryUsage().rss - before < 32 * 1024 * 1024, 'decoding stopped at the limit, not at 16 MiB')
    }
    const deflate = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      http2,
      body: deflateSync(BODY),
      headers: { 'content-encoding': 'deflate' },
    })
    t.equal(deflate.status, 415)
    t.equal(deflate.headers['accept-encoding'], 'gzip, br, zstd', 'the 415 says what is accepted')
    t.match(deflate.json(), {
      type: 'urn:gatehouse:problem:unsupported-content-encoding',
      code: 'GH_UNSUPPORTED_BODY_ENCODING',
    })
    const chained = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      http2,
      body: gzipSync(gzipSync(BODY)),
      headers: { 'content-encoding': 'gzip, gzip' },
    })
    t.equal(chained.status, 415, 'a chain of codings')
    const garbage = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      http2,
      body: BODY,
      headers: { 'content-encoding': 'gzip' },
    })
    t.equal(garbage.status, 400)
    t.match(garbage.json(), { type: 'urn:gatehouse:problem:bad-content-encoding', code: 'GH_BAD_BODY_ENCODING' })
    const identity = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      http2,
      body: BODY,
      headers: { 'content-encoding': 'identity' },
    })
    t.equal(identity.status, 200, 'identity is no coding at all')
  }
  t.equal(stack.seen.filter(seen => seen.method === 'POST').length, 2, 'only the identity bodies reached the upstream')
})

t.test('end to end: the real API verifies the signature over the decoded body and creates the project', async t => {
  const backend = await pgliteBackend()
  t.teardown(() => backend.close())
  const stack = await startEdgeStack(t, backend)
  const alice = await stack.addLogin()
  for (const [coding, encode] of CODERS) {
    const created = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      body: encode(BODY),
      headers: { 'content-encoding': coding },
    })
    t.equal(created.status, 201, coding)
    t.equal(created.json().name, 'Compressed project')
  }
  const listed = await stack.request('/api/v1/projects', { as: alice, headers: { 'accept-encoding': 'gzip' } })
  t.equal(listed.headers['content-encoding'], 'gzip', 'and the list of them comes back compressed')
})
