// The bcrypt verification cache: a right password is checked by bcrypt once, then remembered under a salted
// hash of the credentials for as long as the file holds the same hash; wrong passwords never are.
import t from 'tap'
import { hashPassword } from '../../../proxy/auth/htpasswd-file.js'
import type { HtpasswdEntry, HtpasswdStore } from '../../../proxy/auth/htpasswd.js'

t.test('bcrypt runs once per login and password while the hash stays; wrong passwords and changed hashes go to bcrypt', async (t) => {
  let bcryptCalls = 0
  const bcrypt = await import('bcryptjs')
  const { createCredentialVerifier } = await t.mockImport<typeof import('../../../proxy/auth/credential-verifier.js')>('../../../proxy/auth/credential-verifier.js', {
    bcryptjs: { ...bcrypt, compare: async (password: string, hash: string) => { bcryptCalls++; return bcrypt.compare(password, hash) } },
  })
  const entries = new Map<string, HtpasswdEntry>()
  const store: HtpasswdStore = { get: (login) => entries.get(login), size: 0, close: () => {} }
  const set = async (login: string, password: string): Promise<void> => {
    const [user, tenant] = login.split('@') as [string, string]
    entries.set(login, { login, user, tenant, hash: await hashPassword(password, 4) })
  }
  await set('alice@acme', 'right')
  await set('bob@acme', 'right')
  const verifier = createCredentialVerifier(store, { cacheTtlMs: 60_000 })

  t.equal((await verifier.verify('alice@acme', 'right'))?.user, 'alice')
  t.equal((await verifier.verify('alice@acme', 'right'))?.user, 'alice')
  t.equal(bcryptCalls, 1, 'the second check is served from the cache')

  t.equal(await verifier.verify('alice@acme', 'wrong'), undefined)
  t.equal(await verifier.verify('alice@acme', 'wrong'), undefined)
  t.equal(bcryptCalls, 3, 'wrong passwords are checked by bcrypt every time')

  t.equal((await verifier.verify('bob@acme', 'right'))?.user, 'bob', 'the same password of another login is its own entry')
  t.equal(bcryptCalls, 4)
  t.equal(await verifier.verify('alice@acme\0', 'right'), undefined, 'a login the file does not hold is refused')
  t.equal(await verifier.verify('alice@acme', 'right\0'), undefined, 'as is a longer password')
  t.equal(bcryptCalls, 6)

  await set('alice@acme', 'changed')
  t.equal(await verifier.verify('alice@acme', 'right'), undefined, 'the old password stops working once the hash changes')
  t.equal((await verifier.verify('alice@acme', 'changed'))?.user, 'alice')
  t.equal(bcryptCalls, 8)
  t.equal(verifier.cachedLogins, 3, 'entries for alice (old and new password) and bob; none for failures')
})

t.test('with the cache off every check is a bcrypt check', async (t) => {
  let bcryptCalls = 0
  const bcrypt = await import('bcryptjs')
  const { createCredentialVerifier } = await t.mockImport<typeof import('../../../proxy/auth/credential-verifier.js')>('../../../proxy/auth/credential-verifier.js', {
    bcryptjs: { ...bcrypt, compare: async (password: string, hash: string) => { bcryptCalls++; return bcrypt.compare(password, hash) } },
  })
  const entry: HtpasswdEntry = { login: 'alice@acme', user: 'alice', tenant: 'acme', hash: await hashPassword('right', 4) }
  const verifier = createCredentialVerifier({ get: (login) => login === entry.login ? entry : undefined, size: 1, close: () => {} }, { cacheTtlMs: 0 })
  for (let index = 0; index < 3; index++) t.ok(await verifier.verify('alice@acme', 'right'))
  t.equal(bcryptCalls, 3)
})
