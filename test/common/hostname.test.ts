// The hostname rules tenant domains are held to, as a table: what is accepted (in its stored spelling) and why
// the rest is refused.
import t from 'tap'
import { checkHostname, requestHostname } from '../../common/hostname.ts'

const accepted: Array<[string, string]> = [
  ['api.acme-corp.com', 'api.acme-corp.com'],
  ['API.Acme-Corp.COM', 'api.acme-corp.com'],
  ['api.acme-corp.com.', 'api.acme-corp.com'],
  ['bücher.example', 'xn--bcher-kva.example'],
  ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ['faß.de', 'xn--fa-hia.de'],
  ['ａｐｉ.example.com', 'api.example.com'],
  ['a.b.c.d.example.org', 'a.b.c.d.example.org'],
  [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
  [
    `${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.${'d'.repeat(61)}.com`,
    `${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.${'d'.repeat(61)}.com`,
  ],
]

const refused: Array<[string, RegExp]> = [
  ['', /empty/],
  ['*.acme.com', /wildcard/],
  ['api.*.acme.com', /wildcard/],
  ['127.0.0.1', /IP address/],
  ['::1', /IP address/],
  ['[2001:db8::1]', /IP address/],
  ['0x7f.1', /IP address/],
  ['1.2.3', /IP address|numeric/],
  ['example.123', /numeric|IDNA/],
  ['localhost', /two labels|local-only/],
  ['api.localhost', /local-only/],
  ['printer.local', /local-only/],
  ['db.internal', /local-only/],
  ['router.home.arpa', /local-only/],
  ['x.invalid', /local-only/],
  ['intranet', /two labels/],
  ['a..b.com', /label/],
  ['-api.acme.com', /label/],
  ['api-.acme.com', /label/],
  ['a_b.acme.com', /label/],
  ['api acme.com', /IDNA|label/],
  ['xn--zz.example', /punycode/],
  [`${'a'.repeat(64)}.com`, /63/],
  [`${'a'.repeat(62)}.${'b'.repeat(62)}.${'c'.repeat(62)}.${'d'.repeat(62)}.com`, /253/],
  ['a'.repeat(5000), /longer/],
]

t.test('accepted names, in their stored spelling', async t => {
  for (const [input, stored] of accepted) {
    t.same(checkHostname(input), { ok: true, hostname: stored }, JSON.stringify(input))
  }
})

t.test('refused names say why', async t => {
  for (const [input, reason] of refused) {
    const check = checkHostname(input)
    t.equal(check.ok, false, JSON.stringify(input.slice(0, 40)))
    if (!check.ok) t.match(check.reason, reason, `${JSON.stringify(input.slice(0, 40))}: ${check.reason}`)
  }
})

t.test('the host a request names, as domains are stored', async t => {
  const cases: Array<[string | undefined, string]> = [
    ['API.Acme.com:8443', 'api.acme.com'],
    ['api.acme.com.', 'api.acme.com'],
    ['api.acme.com', 'api.acme.com'],
    ['[::1]:8443', ''],
    ['', ''],
    [undefined, ''],
  ]
  for (const [host, name] of cases) t.equal(requestHostname(host), name, String(host))
})
