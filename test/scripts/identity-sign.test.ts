// npm run -s identity:sign: prints curl header arguments with an identity signed as the proxy signs it,
// which the API accepts: with IDENTITY_SECRET, or with the development secret it keeps in DATA_DIR.
import { readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { IDENTITY_HEADERS, verifyIdentity } from '../../common/identity-signature.js'
import { forEachBackend } from '../helpers/backends.js'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../helpers/build-app.js'
import { runScript } from './run-script.js'

/** `-H name:value -H …` back into headers, as curl would send them. */
function parseCurlHeaders (output: string): Record<string, string> {
  const words = output.trim().split(' ')
  const headers: Record<string, string> = {}
  for (let i = 0; i < words.length; i += 2) {
    if (words[i] !== '-H') throw new Error(`unexpected curl argument ${words[i]}`)
    const [name, ...value] = words[i + 1]!.split(':')
    headers[name!] = value.join(':')
  }
  return headers
}

forEachBackend(t, async (t, backend) => {
  t.test('the printed headers are accepted by the API', async (t) => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects?limit=2'
    const signed = await runScript('identity-sign', [tenant.slug, 'alice', 'GET', url], { IDENTITY_SECRET: TEST_IDENTITY_SECRET })
    t.equal(signed.code, 0, signed.stderr)
    t.match(signed.stdout, /^-H [a-z-]+:\S+( -H [a-z-]+:\S+){4}\n$/, 'one line of curl arguments')
    const headers = parseCurlHeaders(signed.stdout)
    t.same(Object.keys(headers).sort(), Object.values(IDENTITY_HEADERS).sort())
    t.match(headers, { [IDENTITY_HEADERS.tenant]: tenant.slug, [IDENTITY_HEADERS.user]: 'alice' })
    t.match(headers[IDENTITY_HEADERS.requestId], /^[0-9a-f-]{36}$/)

    const app = await buildTestApp(t, backend)
    const accepted = await app.inject({ method: 'GET', url, headers })
    t.equal(accepted.statusCode, 200, accepted.body)
    t.same(accepted.json(), { data: [], next: null })
    const otherPath = await app.inject({ method: 'GET', url: '/api/v1/tasks', headers })
    t.equal(otherPath.statusCode, 401, 'bound to the signed path')
  })
})

t.test('without IDENTITY_SECRET it signs with the development secret in DATA_DIR, kept private and reused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-identity-sign-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const request = { method: 'POST', url: '/graphql' }
  const first = await runScript('identity-sign', ['acme', 'bob', 'post', request.url], { DATA_DIR: dataDir })
  t.equal(first.code, 0, first.stderr)
  const secretFile = join(dataDir, 'identity-secret')
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'the secret is readable by its owner only')
  const secret = readFileSync(secretFile, 'utf8').trim()
  t.ok(secret.length >= 32)
  t.match(verifyIdentity(secret, { ...request, headers: parseCurlHeaders(first.stdout) }, 60),
    { ok: true, identity: { tenant: 'acme', user: 'bob', method: 'POST', url: '/graphql' } })

  const second = await runScript('identity-sign', ['acme', 'bob', 'POST', request.url], { DATA_DIR: dataDir })
  t.equal(readFileSync(secretFile, 'utf8').trim(), secret, 'the same secret next time')
  t.equal(verifyIdentity(secret, { ...request, headers: parseCurlHeaders(second.stdout) }, 60).ok, true)
  t.equal(verifyIdentity(TEST_IDENTITY_SECRET, { ...request, headers: parseCurlHeaders(second.stdout) }, 60).ok, false)
})

t.test('bad usage exits 64 with the usage line', async (t) => {
  for (const args of [[], ['acme', 'alice', 'GET'], ['acme', 'alice', 'GET', 'api/v1/projects'], ['acme', 'alice', 'GET', '/x', 'extra']]) {
    const result = await runScript('identity-sign', args, { IDENTITY_SECRET: TEST_IDENTITY_SECRET })
    t.equal(result.code, 64, JSON.stringify(args))
    t.equal(result.stderr, 'identity:sign: usage: npm run -s identity:sign -- <tenant> <user> <METHOD> </path?query>\n')
    t.equal(result.stdout, '')
  }
})
