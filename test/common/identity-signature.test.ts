// The signature is the only thing standing between a client and any tenant's data: it must bind every
// field the API trusts, expire, and never throw on attacker-shaped input.
import t from 'tap'
import { IDENTITY_HEADERS, signIdentity, verifyIdentity, type SignedIdentity } from '../../common/identity-signature.js'

const SECRET = 'a-signing-secret-of-at-least-32-characters'
const NOW = 1_800_000_000_000
const identity: SignedIdentity = { tenant: 'acme', user: 'alice', requestId: 'req-1', method: 'POST', url: '/api/v1/projects?limit=5' }

const request = (headers: Record<string, string | string[] | undefined>, over: Partial<{ method: string, url: string }> = {}) =>
  ({ method: over.method ?? identity.method, url: over.url ?? identity.url, headers })

t.test('a signed identity verifies and returns exactly what was signed', async (t) => {
  const headers = signIdentity(SECRET, identity, NOW)
  t.same(Object.keys(headers).sort(), Object.values(IDENTITY_HEADERS).sort())
  t.equal(headers[IDENTITY_HEADERS.timestamp], String(NOW / 1000))
  t.match(headers[IDENTITY_HEADERS.signature], /^v1=[A-Za-z0-9_-]{43}$/)
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW), { ok: true, identity })
})

t.test('the method is compared case-insensitively, as HTTP methods are', async (t) => {
  const headers = signIdentity(SECRET, { ...identity, method: 'post' }, NOW)
  t.equal(verifyIdentity(SECRET, request(headers, { method: 'POST' }), 60, NOW).ok, true)
})

t.test('changing any signed field breaks the signature', async (t) => {
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
  t.same(verifyIdentity('another-secret-of-at-least-32-characters!', request(headers), 60, NOW),
    { ok: false, reason: 'bad-signature' }, 'another secret')
})

t.test('a signature older or newer than the allowed age is stale', async (t) => {
  const headers = signIdentity(SECRET, identity, NOW)
  t.equal(verifyIdentity(SECRET, request(headers), 60, NOW + 60_000).ok, true, 'exactly at the limit')
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW + 61_000), { ok: false, reason: 'stale' })
  t.same(verifyIdentity(SECRET, request(headers), 60, NOW - 61_000), { ok: false, reason: 'stale' }, 'from the future')
  t.same(verifyIdentity(SECRET, request(headers), 10, NOW + 11_000), { ok: false, reason: 'stale' }, 'max age is honoured')
})

t.test('missing and malformed headers are refused with a reason, never a throw', async (t) => {
  const headers = signIdentity(SECRET, identity, NOW)
  for (const name of [IDENTITY_HEADERS.tenant, IDENTITY_HEADERS.user, IDENTITY_HEADERS.timestamp, IDENTITY_HEADERS.signature]) {
    t.same(verifyIdentity(SECRET, request({ ...headers, [name]: undefined }), 60, NOW), { ok: false, reason: 'missing' }, name)
    // A repeated header arrives as an array: never pick one of them.
    t.same(verifyIdentity(SECRET, request({ ...headers, [name]: [headers[name]!, headers[name]!] }), 60, NOW),
      { ok: false, reason: 'missing' }, `${name} repeated`)
  }
  for (const timestamp of ['', 'abc', '1e9', '-5', '1234567890123', ' 1800000000']) {
    t.same(verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.timestamp]: timestamp }), 60, NOW),
      { ok: false, reason: 'malformed' }, `timestamp ${JSON.stringify(timestamp)}`)
  }
  const mac = headers[IDENTITY_HEADERS.signature]!.slice(3)
  for (const signature of [mac, `v2=${mac}`, '']) {
    t.same(verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.signature]: signature }), 60, NOW),
      { ok: false, reason: 'malformed' }, `signature ${JSON.stringify(signature)}`)
  }
})

t.test('signatures of any length are compared without throwing', async (t) => {
  const headers = signIdentity(SECRET, identity, NOW)
  const mac = headers[IDENTITY_HEADERS.signature]!.slice(3)
  // timingSafeEqual throws on buffers of different lengths; the verifier must turn that into a plain refusal.
  for (const given of ['', 'x', mac.slice(0, -1), `${mac}A`, mac.repeat(10), `${'é'.repeat(43)}`]) {
    let result
    t.doesNotThrow(() => { result = verifyIdentity(SECRET, request({ ...headers, [IDENTITY_HEADERS.signature]: `v1=${given}` }), 60, NOW) })
    t.same(result, { ok: false, reason: 'bad-signature' }, `length ${given.length}`)
  }
})
