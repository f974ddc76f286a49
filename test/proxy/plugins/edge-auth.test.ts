// Basic auth at the edge, through real TLS against the real API: who gets in, which tenant the API
// then sees, that the real `htpasswd -B` writes a file the proxy accepts, that edits to the file take
// effect within seconds, and that an address guessing passwords is locked out even with the right one.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { eventually, startEdgeStack, type Login } from '../../helpers/edge-stack.ts'

const htpasswd = (...args: string[]): void => {
  execFileSync('htpasswd', args, { stdio: 'pipe' })
}

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend)

  t.test('no credentials: 401 with a Basic challenge, as problem+json', async t => {
    for (const http2 of [true, false]) {
      const response = await stack.request('/api/v1/projects', { http2 })
      t.equal(response.status, 401)
      t.match(response.headers['www-authenticate'], /^Basic realm="Gatehouse"/)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(response.json(), {
        type: 'urn:gatehouse:problem:unauthenticated',
        status: 401,
        code: 'GH_EDGE_CREDENTIALS_MISSING',
      })
    }
  })

  t.test('a wrong password or an unknown login: 401, never the API', async t => {
    const alice = await stack.addLogin()
    const wrong = await stack.request('/api/v1/projects', { as: { ...alice, password: `${alice.password}x` } })
    t.equal(wrong.status, 401)
    t.match(wrong.headers['www-authenticate'], /^Basic /)
    t.match(wrong.json(), { type: 'urn:gatehouse:problem:unauthenticated', code: 'GH_EDGE_UNAUTHORIZED' })
    const unknown = await stack.request('/api/v1/projects', { as: { ...alice, login: `mallory@${alice.tenant.slug}` } })
    t.equal(unknown.status, 401)
    t.equal(unknown.json().code, 'GH_EDGE_UNAUTHORIZED')
  })

  t.test('an Authorization header that is not Basic credentials: 401 with its own code and the challenge', async t => {
    const noColon = `Basic ${Buffer.from('alice-without-password').toString('base64')}`
    for (const authorization of ['Basic !!!not-base64', 'Bearer some-token', noColon]) {
      const response = await stack.request('/api/v1/projects', { headers: { authorization } })
      t.equal(response.status, 401, authorization)
      t.match(response.headers['www-authenticate'], /^Basic realm="Gatehouse"/)
      t.match(response.json(), { type: 'urn:gatehouse:problem:unauthenticated', code: 'GH_EDGE_CREDENTIALS_MALFORMED' })
    }
  })

  t.test('user@tenant logs in, and what it creates belongs to that tenant in the database', async t => {
    const alice = await stack.addLogin('alice')
    const created = await stack.request('/api/v1/projects', {
      as: alice,
      method: 'POST',
      body: JSON.stringify({ name: 'Edge-made' }),
    })
    t.equal(created.status, 201)
    const rows = await backend.asOwner(session =>
      session.query<{ tenant_id: string }>('SELECT tenant_id FROM projects WHERE id = $1', [created.json().id]),
    )
    t.same(rows, [{ tenant_id: alice.tenant.id }])
    const listed = await stack.request('/api/v1/projects', { as: alice, http2: false })
    t.equal(listed.status, 200)
    t.same(
      listed.json().data.map((project: { name: string }) => project.name),
      ['Edge-made'],
    )
  })

  t.test('a file written by the real htpasswd -B works, and its edits apply within seconds', async t => {
    const tenant = await backend.createTenant()
    const login: Login = { tenant, login: `carol@${tenant.slug}`, password: 'first-password' }
    const status = async (as: Login): Promise<number> => (await stack.request('/api/v1/projects', { as })).status

    // -C 4: the lowest bcrypt cost htpasswd accepts keeps the test fast; the format is the same.
    htpasswd('-B', '-C', '4', '-b', stack.htpasswdFile, login.login, login.password)
    await eventually(async () => (await status(login)) === 200, 5000, 'the added user being accepted')

    htpasswd('-B', '-C', '4', '-b', stack.htpasswdFile, login.login, 'second-password')
    const changed = { ...login, password: 'second-password' }
    await eventually(async () => (await status(login)) === 401, 5000, 'the old password being refused')
    t.equal(await status(changed), 200, 'the new password works')

    htpasswd('-D', stack.htpasswdFile, login.login)
    await eventually(async () => (await status(changed)) === 401, 5000, 'the removed user being refused')
  })

  t.test('an unreadable or emptied file locks everyone out instead of keeping stale users', async t => {
    const dave = await stack.addLogin('dave')
    t.equal((await stack.request('/api/v1/projects', { as: dave })).status, 200)
    writeFileSync(stack.htpasswdFile, '# nobody\n')
    await eventually(
      async () => (await stack.request('/api/v1/projects', { as: dave })).status === 401,
      5000,
      'dave being refused',
    )
  })
})

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend, { AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SECONDS: '60' })
  const alice = await stack.addLogin()
  const attacker = '127.0.0.2'

  t.test(
    'after AUTH_FAILURE_LIMIT failures an address gets 429 with Retry-After, even with the right password',
    async t => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const response = await stack.request('/api/v1/projects', {
          as: { ...alice, password: `guess-${attempt}` },
          localAddress: attacker,
        })
        t.equal(response.status, 401, `guess ${attempt + 1} is refused as a wrong login`)
      }
      const locked = await stack.request('/api/v1/projects', { as: alice, localAddress: attacker })
      t.equal(locked.status, 429)
      const retryAfter = Number(locked.headers['retry-after'])
      t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} is within the window`)
      t.match(locked.headers['content-type'], /^application\/problem\+json/)
      t.match(locked.json(), { type: 'urn:gatehouse:problem:login-throttled', code: 'GH_EDGE_LOGIN_THROTTLED' })

      const elsewhere = await stack.request('/api/v1/projects', { as: alice, localAddress: '127.0.0.3' })
      t.equal(elsewhere.status, 200, 'another address is not punished for the attacker')
    },
  )
})
