// The ACME settings: off without ACME_EMAIL, the names that qualify taken from PROXY_HOSTNAMES, and each bad
// value refused naming its variable.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../../common/env-config.ts'
import { loadProxyConfig } from '../../../../proxy/config.ts'

const SECRET = 'a-secret-of-at-least-thirty-two-characters'
const load = (env: Record<string, string>) =>
  loadProxyConfig({ IDENTITY_SECRET: SECRET, DATA_DIR: '/srv/edge', ...env })
const problemsOf = (env: Record<string, string>): string[] => {
  try {
    load(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.equal(load({}).acme, undefined, 'off without ACME_EMAIL')

t.test('on with ACME_EMAIL, for the public names only', async t => {
  const acme = load({
    ACME_EMAIL: 'ops@example.com',
    PROXY_HOSTNAMES: 'localhost,127.0.0.1,Edge.Example.com,nas.home.arpa',
  }).acme!
  t.same(acme.names, ['edge.example.com'])
  t.equal(acme.directoryUrl, 'https://acme-v02.api.letsencrypt.org/directory', "Let's Encrypt production by default")
  t.same(acme.challenges, ['http-01', 'tls-alpn-01'], 'both challenges by default')
  t.equal(acme.dir, join('/srv/edge', 'acme'), 'kept in DATA_DIR/acme')
  t.equal(acme.caCert, undefined)
})

t.test('ACME_CA_CERT_FILE is read at start', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n')
  const caCertFile = (name: string) => ({ ACME_EMAIL: 'ops@example.com', ACME_CA_CERT_FILE: join(dir, name) })
  t.match(load(caCertFile('ca.pem')).acme!.caCert, /BEGIN CERTIFICATE/)
  t.match(problemsOf(caCertFile('missing.pem'))[0], /^ACME_CA_CERT_FILE: cannot read/)
})

t.test('bad values name their variable', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ ACME_EMAIL: 'not-an-address' }, /^ACME_EMAIL: /],
    [{ ACME_EMAIL: 'ops@example.com', ACME_DIRECTORY_URL: 'ftp://ca.example' }, /^ACME_DIRECTORY_URL: /],
    [{ ACME_EMAIL: 'ops@example.com', ACME_CHALLENGES: 'dns-01' }, /^ACME_CHALLENGES: /],
    [
      { ACME_EMAIL: 'ops@example.com', ACME_CHALLENGES: 'http-01', PROXY_HTTP_PORT: '0' },
      /^ACME_CHALLENGES: http-01 alone needs the HTTP port/,
    ],
  ]
  for (const [env, expected] of cases) t.match(problemsOf(env)[0], expected, JSON.stringify(env))
  t.same(
    load({ ACME_EMAIL: 'ops@example.com', ACME_CHALLENGES: 'tls-alpn-01', PROXY_HTTP_PORT: '0' }).acme!.challenges,
    ['tls-alpn-01'],
    'TLS-ALPN-01 alone works without the HTTP port',
  )
})
