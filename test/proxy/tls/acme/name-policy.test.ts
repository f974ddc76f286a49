// Which names the edge orders public certificates for: a table, as Caddy's tests have it.
import t from 'tap'
import { publicNames, qualifiesForPublicCertificate } from '../../../../proxy/tls/acme/name-policy.ts'

const table: Array<[string, boolean]> = [
  ['example.com', true],
  ['edge.example.com', true],
  ['EDGE.Example.COM', true],
  ['edge.example.com.', true],
  ['xn--bcher-kva.example', true],
  ['a-b.c-d.example.org', true],
  ['localhost', false],
  ['LOCALHOST', false],
  ['app.localhost', false],
  ['printer.local', false],
  ['local', false],
  ['db.internal', false],
  ['nas.home.arpa', false],
  ['home.arpa', false],
  ['127.0.0.1', false],
  ['::1', false],
  ['[::1]', false],
  ['10.0.0.8', false],
  ['intranet', false],
  ['*.example.com', false],
  ['bad_name.example.com', false],
  ['-lead.example.com', false],
  ['trail-.example.com', false],
  ['two..dots.example', false],
  ['', false],
  [`${'a'.repeat(64)}.example.com`, false],
  ['with space.example.com', false],
  ['shop.example.invalid', false],
  ['1.2.3', false],
  ['xn--zz.example', false],
  ['bücher.example', true],
]

for (const [name, expected] of table) {
  t.equal(
    qualifiesForPublicCertificate(name),
    expected,
    `${JSON.stringify(name)} ${expected ? 'qualifies' : 'keeps the local CA'}`,
  )
}

t.same(
  publicNames(['localhost', '127.0.0.1', 'Edge.Example.com', 'edge.example.com.', 'api.example.org']),
  ['edge.example.com', 'api.example.org'],
  'the configured names that qualify, normalised, once each',
)
