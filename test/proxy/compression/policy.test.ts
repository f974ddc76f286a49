// Which responses the edge compresses, and the header changes a coded variant makes: a table per refusal.
import t from 'tap'
import {
  compressibleType,
  requestCoder,
  responseVaries,
  varyWithAcceptEncoding,
  weakEtag,
  type CompressionSettings,
} from '../../../proxy/compression/policy.ts'

const SETTINGS: CompressionSettings = {
  enabled: true,
  encodings: ['zstd', 'br', 'gzip'],
  levels: { zstd: 1, br: 1, gzip: 1 },
  minBytes: 1024,
}
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

t.test('compressible types: text and structured text, not media or archives', async t => {
  for (const type of [
    'application/json',
    'application/json; charset=utf-8',
    'text/html',
    'application/problem+json',
    'application/graphql-response+json',
    'image/svg+xml',
    'application/javascript',
    'application/xml',
  ]) {
    t.ok(compressibleType(type), type)
  }
  for (const type of [
    undefined,
    '',
    'image/png',
    'image/jpeg',
    'application/zip',
    'application/gzip',
    'application/octet-stream',
    'video/mp4',
    'font/woff2',
    'application/jsonp-nonsense-not',
    'application/pdf',
    'text/event-stream',
    'text/event-stream; charset=utf-8',
  ]) {
    t.notOk(compressibleType(type), String(type))
  }
})

t.test('responses that vary on Accept-Encoding, and the ones that never are coded', async t => {
  const cases: Array<[string, number, Record<string, unknown>, number | undefined, boolean]> = [
    ['a JSON body past the threshold', 200, JSON_HEADERS, 4000, true],
    ['a stream of unknown length', 200, JSON_HEADERS, undefined, true],
    ['a 404 problem', 404, { 'content-type': 'application/problem+json' }, 2000, true],
    ['a body under the threshold', 200, JSON_HEADERS, 1023, false],
    ['204 No Content', 204, JSON_HEADERS, 4000, false],
    ['304 Not Modified', 304, JSON_HEADERS, 4000, false],
    ['206 Partial Content', 206, JSON_HEADERS, 4000, false],
    ['a Content-Range', 200, { ...JSON_HEADERS, 'content-range': 'bytes 0-9/100' }, 4000, false],
    ['already coded', 200, { ...JSON_HEADERS, 'content-encoding': 'gzip' }, 4000, false],
    ['an image', 200, { 'content-type': 'image/png' }, 4000, false],
    ['no type', 200, {}, 4000, false],
    [
      'Cache-Control: no-transform',
      200,
      { ...JSON_HEADERS, 'cache-control': 'public, no-transform, max-age=5' },
      4000,
      false,
    ],
  ]
  for (const [name, status, headers, size, expected] of cases) {
    t.equal(responseVaries(status, headers, size, SETTINGS), expected, name)
  }
})

t.test('what a request gets: HEAD, ranges and no-transform refuse coding', async t => {
  const coding = requestCoder(SETTINGS)
  t.equal(coding('GET', { 'accept-encoding': 'gzip' }), 'gzip')
  t.equal(coding('GET', {}), 'identity')
  t.equal(coding('HEAD', { 'accept-encoding': 'gzip' }), 'identity')
  t.equal(coding('GET', { 'accept-encoding': 'gzip', range: 'bytes=0-10' }), 'identity')
  t.equal(coding('GET', { 'accept-encoding': 'gzip', 'cache-control': 'no-transform' }), 'identity')
})

t.test('Vary and ETag of a coded variant', async t => {
  t.equal(varyWithAcceptEncoding(undefined), 'Accept-Encoding')
  t.equal(varyWithAcceptEncoding('X-Gatehouse-Tenant'), 'X-Gatehouse-Tenant, Accept-Encoding')
  t.equal(varyWithAcceptEncoding('accept-encoding, Origin'), 'accept-encoding, Origin', 'named once')
  t.equal(varyWithAcceptEncoding('*'), '*')
  t.equal(weakEtag('"abc"'), 'W/"abc"')
  t.equal(weakEtag('W/"abc"'), 'W/"abc"')
  t.equal(weakEtag(undefined), undefined)
})
