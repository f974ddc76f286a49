// npm run -s identity:sign: prints curl header arguments with an identity signed as the proxy signs it (and the
// digest of the body, when given), which the API accepts: with IDENTITY_SECRET, or with the development secret
// it keeps in DATA_DIR.
import { readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { contentDigest, IDENTITY_HEADERS, verifyIdentity } from '../../common/identity-signature.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { buildTestApp, TEST_IDENTITY_SECRET } from '../helpers/build-app.ts'
import { runScript } from './run-script.ts'

/** `-H name:value -H …` back into headers, as curl would send them. */
function parseCurlHeaders(output: string): Record<string, string> {
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
  t.test('the printed headers are accepted by the API', async t => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects?limit=2'
    const signed = await runScript('identity-sign', [tenant.slug, 'alice', 'GET', url], {
      IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    })
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

  t.test('with a body, the printed headers carry its digest and are good for that body only', async t => {
    const tenant = await backend.createTenant()
    const url = '/api/v1/projects'
    const body = '{"name":"Launch"}'
    const signed = await runScript('identity-sign', [tenant.slug, 'alice', 'POST', url, body], {
      IDENTITY_SECRET: TEST_IDENTITY_SECRET,
    })
    t.equal(signed.code, 0, signed.stderr)
    t.match(signed.stdout, /^-H [a-z-]+:\S+( -H [a-z-]+:\S+){5}\n$/, 'one line of curl arguments, word-splittable')
    const headers: Record<string, string> = { ...parseCurlHeaders(signed.stdout), 'content-type': 'application/json' }
    t.equal(headers['content-digest'], contentDigest(body))

    const app = await buildTestApp(t, backend)
    const created = await app.inject({ method: 'POST', url, headers, payload: body })
    t.equal(created.statusCode, 201, created.body)
    t.equal(
      (await app.inject({ method: 'POST', url, headers, payload: '{"name":"Other"}' })).statusCode,
      400,
      'bound to the signed body',
    )
    const { 'content-digest': _digest, ...bodiless } = parseCurlHeaders(
      (await runScript('identity-sign', [tenant.slug, 'alice', 'POST', url], { IDENTITY_SECRET: TEST_IDENTITY_SECRET }))
        .stdout,
    )
    t.equal(
      (
        await app.inject({
          method: 'POST',
          url,
          headers: { ...bodiless, 'content-type': 'application/json' },
          payload: body,
        })
      ).statusCode,
      401,
      'signed without the body, sent with one',
    )
  })
})

t.test('without IDENTITY_SECRET it signs with the development secret in DATA_DIR, kept private and reused', async t => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-identity-sign-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const request = { method: 'POST', url: '/graphql' }
  const first = await runScript('identity-sign', ['acme', 'bob', 'post', request.url], { DATA_DIR: dataDir })
  t.equal(first.code, 0, first.stderr)
  const secretFile = join(dataDir, 'identity-secret')
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'the secret is readable by its owner only')
  const secret = readFileSync(secretFile, 'utf8').trim()
  t.ok(secret.length >= 32)
  t.match(verifyIdentity(secret, { ...request, headers: parseCurlHeaders(first.stdout) }, 60), {
    ok: true,
    identity: { tenant: 'acme', user: 'bob', method: 'POST', url: '/graphql' },
  })

  const second = await runScript('identity-sign', ['acme', 'bob', 'POST', request.url], { DATA_DIR: dataDir })
  t.equal(readFileSync(secretFile, 'utf8').trim(), secret, 'the same secret next time')
  t.equal(verifyIdentity(secret, { ...request, headers: parseCurlHeaders(second.stdout) }, 60).ok, true)
  t.equal(verifyIdentity(TEST_IDENTITY_SECRET, { ...request, headers: parseCurlHeaders(second.stdout) }, 60).ok, false)
})

t.test('bad usage exits 64 with the usage line', async t => {
  for (const args of [
    [],
    ['acme', 'alice', 'GET'],
    ['acme', 'alice', 'GET', 'api/v1/projects'],
    ['acme', 'alice', 'POST', '/x', '{}', 'extra'],
  ]) {
    const result = await runScript('identity-sign', args, { IDENTITY_SECRET: TEST_IDENTITY_SECRET })
    t.equal(result.code, 64, JSON.stringify(args))
    t.equal(
      result.stderr,
      'identity:sign: usage: npm run -s identity:sign -- <tenant> <user> <METHOD> </path?query> [body]\n',
    )
    t.equal(result.stdout, '')
  }
})
