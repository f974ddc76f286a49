// The signature is the only thing standing between a client and any tenant's data: it must bind every
// field the API trusts (the body too, by its digest), expire, and never throw on attacker-shaped input.
import { createHash } from 'node:crypto'
import t from 'tap'
import {
  contentDigest,
  finishContentDigest,
  framesBody,
  IDENTITY_HEADERS,
  signIdentity,
  verifyIdentity,
  type SignedIdentity,
} from '../../common/identity-signature.ts'

const SECRET = 'a-signing-secret-of-at-least-32-characters'
const NOW = 1_800_000_000_000
const identity: SignedIdentity = {
  tenant: 'acme',
  user: 'alice',
  requestId: 'req-1',
  method: 'POST',
  url: '/api/v1/projects?limit=5',
}

const request = (
  headers: Record<string, string | string[] | undefined>,
  over: Partial<{ method: string; url: string }> = {},
) => ({ method: over.method ?? identity.method, url: over.url ?? identity.url, headers })

t.test('a signed identity verifies and returns exactly what was signed', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  t.same(Object.keys(headers).sort(), Object.values(IDENTITY_HEADERS).sort())
  t.equal(headers[IDENTITY_HEADERS.timestamp], String(NOW / 1000))
  t.match(headers[IDENTITY_HEADERS.signature], /^v2=[A-Za-z0-9_-]{43}$/)
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW), { ok: true, identity })
})

t.test('the method is compared case-insensitively, as HTTP methods are', async t => {
  const headers = signIdentity(SECRET, { ...identity, method: 'post' }, NOW)
  t.equal(verifyIdentity(SECRET, request(headers, { method: 'POST' }), 60, NOW).ok, true)
})

t.test('changing any signed field breaks the signature', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  const tampered: Array<[string, ReturnType<typeof request>]> = [
    ['tenant', request({ ...headers, [IDENTITY_HEADERS.tenant]: 'globex' })],
    ['user', request({ ...headers, [IDENTITY_HEADERS.user]: 'mallory' })],
    ['request id', request({ ...headers, [IDENTITY_HEADERS.requestId]: 'req-2' })],
    ['missing request id', request({ ...headers, [IDENTITY_HEADERS.requestId]: undefined })],
    ['time', request({ ...headers, [IDENTITY_HEADERS.timestamp]: String(NOW / 1000 - 1) })],
    ['method', request(headers, { method: 'DELETE' })],
    ['url path', request(headers, { url: '/api/v1/tasks?limit=5' })],
    ['url query', request(headers, { url: '/api/v1/projects?limit=6' })],
  ]
  for (const [field, forged] of tampered) {
    t.same(verifyIdentity(SECRET, forged, 60, NOW), { ok: false, reason: 'bad-signature' }, field)
  }
  t.same(
    verifyIdentity('another-secret-of-at-least-32-characters!', request(headers), 60, NOW),
    { ok: false, reason: 'bad-signature' },
    'another secret',
  )
})

t.test('a signature older or newer than the allowed age is stale', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  t.equal(verifyIdentity(SECRET, request(headers), 60, NOW + 60_000).ok, true, 'exactly at the limit')
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW + 61_000), { ok: false, reason: 'stale' })
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW - 61_000), { ok: false, reason: 'stale' }, 'from the future')
  t.same(
    verifyIdentity(SECRET, request(headers), 10, NOW + 11_000),
    { ok: false, reason: 'stale' },
    'max age is honoured',
  )
})

t.test('missing and malformed headers are refused with a reason, never a throw', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  for (const name of [
    IDENTITY_HEADERS.tenant,
    IDENTITY_HEADERS.user,
    IDENTITY_HEADERS.timestamp,
    IDENTITY_HEADERS.signature,
  ]) {
    t.same(
      verifyIdentity(SECRET, request({ ...headers, [name]: undefined }), 60, NOW),
      { ok: false, reason: 'missing' },
      name,
    )
    // A repeated header arrives as an array: never pick one of them.
    t.same(
      verifyIdentity(SECRET, request({ ...headers, [name]: [headers[name]!, headers[name]!] }), 60, NOW),
      { ok: false, reason: 'missing' },
      `${name} repeated`,
    )
  }
  for (const timestamp of ['', 'abc', '1e9', '-5', '1234567890123', ' 1800000000']) {
    t.same(
      verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.timestamp]: timestamp }), 60, NOW),
      { ok: false, reason: 'malformed' },
      `timestamp ${JSON.stringify(timestamp)}`,
    )
  }
  const mac = headers[IDENTITY_HEADERS.signature]!.slice(3)
  for (const signature of [mac, `v1=${mac}`, `v3=${mac}`, '']) {
    t.same(
      verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.signature]: signature }), 60, NOW),
      { ok: false, reason: 'malformed' },
      `signature ${JSON.stringify(signature)}`,
    )
  }
})

t.test('signatures of any length are compared without throwing', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  const mac = headers[IDENTITY_HEADERS.signature]!.slice(3)
  // timingSafeEqual throws on buffers of different lengths; the verifier must turn that into a plain refusal.
  for (const given of ['', 'x', mac.slice(0, -1), `${mac}A`, mac.repeat(10), `${'é'.repeat(43)}`]) {
    let result
    t.doesNotThrow(() => {
      result = verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.signature]: `v2=${given}` }), 60, NOW)
    })
    t.same(result, { ok: false, reason: 'bad-signature' }, `length ${given.length}`)
  }
})

t.test('Content-Digest is RFC 9530 sha-256, however the body is given or streamed', async t => {
  // RFC 9530 Appendix B.1's example: {"hello": "world"} and a newline.
  t.equal(contentDigest('{"hello": "world"}\n'), 'sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:')
  t.equal(contentDigest(Buffer.from('{"hello": "world"}\n')), contentDigest('{"hello": "world"}\n'))
  t.equal(
    finishContentDigest(createHash('sha256').update('{"hello": ').update('"world"}\n')),
    contentDigest('{"hello": "world"}\n'),
  )
})

t.test('a body is signed by its digest, and the digest by the MAC', async t => {
  const body = '{"name":"Launch"}'
  const headers = signIdentity(SECRET, { ...identity, body }, NOW)
  t.same(Object.keys(headers).sort(), [...Object.values(IDENTITY_HEADERS), 'content-digest'].sort())
  t.equal(headers['content-digest'], contentDigest(body))
  const sent = { ...headers, 'content-length': String(body.length) }
  t.same(
    verifyIdentity(SECRET, request(sent), 60, NOW),
    { ok: true, identity, contentDigest: contentDigest(body) },
    'the digest to hold the body to is returned',
  )
  t.same(
    verifyIdentity(SECRET, request({ ...sent, 'content-digest': contentDigest('{"name":"Other"}') }), 60, NOW),
    { ok: false, reason: 'bad-signature' },
    'another digest',
  )
  t.same(
    verifyIdentity(SECRET, request({ ...sent, 'content-digest': undefined }), 60, NOW),
    { ok: false, reason: 'bad-signature' },
    'the digest removed',
  )
  const bodiless = signIdentity(SECRET, identity, NOW)
  t.same(
    verifyIdentity(SECRET, request({ ...bodiless, 'content-digest': contentDigest('') }), 60, NOW),
    { ok: false, reason: 'bad-signature' },
    'a digest added to a signature without one',
  )
  t.same(signIdentity(SECRET, { ...identity, body: '' }, NOW), bodiless, 'an empty body is no body: no digest')
  t.same(signIdentity(SECRET, { ...identity, body: Buffer.alloc(0) }, NOW), bodiless)
})

t.test('a request that frames a body must have it signed', async t => {
  const headers = signIdentity(SECRET, identity, NOW)
  for (const framing of [
    { 'content-length': '1' },
    { 'content-length': '00x' },
    { 'transfer-encoding': 'chunked' },
    { 'transfer-encoding': 'gzip, chunked' },
  ]) {
    t.ok(framesBody(framing), JSON.stringify(framing))
    t.same(
      verifyIdentity(SECRET, request({ ...headers, ...framing }), 60, NOW),
      { ok: false, reason: 'unsigned-body' },
      JSON.stringify(framing),
    )
  }
  for (const framing of [{}, { 'content-length': '0' }, { 'content-length': '000' }]) {
    t.notOk(framesBody(framing), JSON.stringify(framing))
    t.same(
      verifyIdentity(SECRET, request({ ...headers, ...framing }), 60, NOW),
      { ok: true, identity },
      JSON.stringify(framing),
    )
  }
  t.same(
    verifyIdentity(SECRET, request({ ...headers, 'content-digest': '' }), 60, NOW),
    { ok: true, identity },
    'an empty Content-Digest is none',
  )
  // A forged identity stays a bad signature: the body rule is checked only once the MAC holds.
  t.same(
    verifyIdentity(
      'another-secret-of-at-least-32-characters!',
      request({ ...headers, 'content-length': '5' }),
      60,
      NOW,
    ),
    { ok: false, reason: 'bad-signature' },
  )
})

t.test('a Content-Digest in any form the proxy does not send is malformed', async t => {
  const body = '{"name":"Launch"}'
  const headers = signIdentity(SECRET, { ...identity, body }, NOW)
  const digest = headers['content-digest']!
  for (const given of [
    digest.toUpperCase(),
    `${digest}, sha-512=:AAAA:`,
    `sha-512=:${'A'.repeat(86)}==:`,
    digest.slice(0, -1),
    ` ${digest}`,
    'sha-256=:not base64 at all, 43 characters of it:',
    [digest, digest],
  ]) {
    t.same(
      verifyIdentity(SECRET, request({ ...headers, 'content-digest': given }), 60, NOW),
      { ok: false, reason: 'malformed' },
      JSON.stringify(given),
    )
  }
})
