// The bcrypt verification cache: a right password is checked by bcrypt once, then remembered under a salted
// hash of the credentials for as long as the file holds the same hash; wrong passwords never are.
import t from 'tap'
import { hashPassword } from '../../../proxy/auth/htpasswd-file.ts'
import type { HtpasswdEntry, HtpasswdStore } from '../../../proxy/auth/htpasswd.ts'

t.test(
  'bcrypt runs once per login and password while the hash stays; wrong passwords and changed hashes go to bcrypt',
  async t => {
    let bcryptCalls = 0
    const bcrypt = await import('bcryptjs')
    const { createCredentialVerifier } = await t.mockImport<
      typeof import('../../../proxy/auth/credential-verifier.ts')
    >('../../../proxy/auth/credential-verifier.ts', {
      bcryptjs: {
        ...bcrypt,
        compare: async (password: string, hash: string) => {
          bcryptCalls++
          return bcrypt.compare(password, hash)
        },
      },
    })
    const entries = new Map<string, HtpasswdEntry>()
    const store: HtpasswdStore = { get: login => entries.get(login), size: 0, close: () => {} }
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

    t.equal(
      (await verifier.verify('bob@acme', 'right'))?.user,
      'bob',
      'the same password of another login is its own entry',
    )
    t.equal(bcryptCalls, 4)
    t.equal(await verifier.verify('alice@acme\0', 'right'), undefined, 'a login the file does not hold is refused')
    t.equal(await verifier.verify('alice@acme', 'right\0'), undefined, 'as is a longer password')
    t.equal(bcryptCalls, 6)

    await set('alice@acme', 'changed')
    t.equal(
      await verifier.verify('alice@acme', 'right'),
      undefined,
      'the old password stops working once the hash changes',
    )
    t.equal((await verifier.verify('alice@acme', 'changed'))?.user, 'alice')
    t.equal(bcryptCalls, 8)
    t.equal(verifier.cachedLogins, 3, 'entries for alice (old and new password) and bob; none for failures')
  },
)

t.test('with the cache off every check is a bcrypt check', async t => {
  let bcryptCalls = 0
  const bcrypt = await import('bcryptjs')
  const { createCredentialVerifier } = await t.mockImport<typeof import('../../../proxy/auth/credential-verifier.ts')>(
    '../../../proxy/auth/credential-verifier.ts',
    {
      bcryptjs: {
        ...bcrypt,
        compare: async (password: string, hash: string) => {
          bcryptCalls++
          return bcrypt.compare(password, hash)
        },
      },
    },
  )
  const entry: HtpasswdEntry = {
    login: 'alice@acme',
    user: 'alice',
    tenant: 'acme',
    hash: await hashPassword('right', 4),
  }
  const verifier = createCredentialVerifier(
    { get: login => (login === entry.login ? entry : undefined), size: 1, close: () => {} },
    { cacheTtlMs: 0 },
  )
  for (let index = 0; index < 3; index++) t.ok(await verifier.verify('alice@acme', 'right'))
  t.equal(bcryptCalls, 3)
})

t.test('concurrent checks of the same credentials share one bcrypt run; different ones do not', async t => {
  let bcryptCalls = 0
  const bcrypt = await import('bcryptjs')
  const { createCredentialVerifier } = await t.mockImport<typeof import('../../../proxy/auth/credential-verifier.ts')>(
    '../../../proxy/auth/credential-verifier.ts',
    {
      bcryptjs: {
        ...bcrypt,
        compare: async (password: string, hash: string) => {
          bcryptCalls++
          return bcrypt.compare(password, hash)
        },
      },
    },
  )
  const entry: HtpasswdEntry = {
    login: 'alice@acme',
    user: 'alice',
    tenant: 'acme',
    hash: await hashPassword('right', 4),
  }
  const verifier = createCredentialVerifier(
    { get: login => (login === entry.login ? entry : undefined), size: 1, close: () => {} },
    { cacheTtlMs: 60_000 },
  )

  // A busy login whose cache entry just expired: every request in flight asks at once.
  const right = await Promise.all(Array.from({ length: 32 }, () => verifier.verify('alice@acme', 'right')))
  t.ok(
    right.every(found => found?.user === 'alice'),
    'all 32 are let in',
  )
  t.equal(bcryptCalls, 1, 'by one bcrypt check')

  const wrong = await Promise.all(Array.from({ length: 10 }, () => verifier.verify('alice@acme', 'wrong')))
  t.ok(
    wrong.every(found => found === undefined),
    'all 10 are refused',
  )
  t.equal(bcryptCalls, 2, 'by one bcrypt check')
  t.equal(await verifier.verify('alice@acme', 'wrong'), undefined)
  t.equal(bcryptCalls, 3, 'a later wrong attempt is checked again: failures are never remembered')

  const mixed = await Promise.all([
    verifier.verify('alice@acme', 'other-1'),
    verifier.verify('alice@acme', 'other-2'),
    verifier.verify('mallory@acme', 'right'),
  ])
  t.same(mixed, [undefined, undefined, undefined])
  t.equal(bcryptCalls, 6, 'different passwords and logins are checked each on their own')
})

t.test('cachedEntry answers from the cache alone: only credentials that verified, while their hash stays', async t => {
  let bcryptCalls = 0
  const bcrypt = await import('bcryptjs')
  const { createCredentialVerifier } = await t.mockImport<typeof import('../../../proxy/auth/credential-verifier.ts')>(
    '../../../proxy/auth/credential-verifier.ts',
    {
      bcryptjs: {
        ...bcrypt,
        compare: async (password: string, hash: string) => {
          bcryptCalls++
          return bcrypt.compare(password, hash)
        },
      },
    },
  )
  let entry: HtpasswdEntry = {
    login: 'alice@acme',
    user: 'alice',
    tenant: 'acme',
    hash: await hashPassword('right', 4),
  }
  const verifier = createCredentialVerifier(
    { get: login => (login === entry.login ? entry : undefined), size: 1, close: () => {} },
    { cacheTtlMs: 60_000 },
  )

  t.equal(verifier.cachedEntry('alice@acme', 'right'), undefined, 'not before a bcrypt check')
  t.equal(await verifier.verify('alice@acme', 'wrong'), undefined)
  t.equal(verifier.cachedEntry('alice@acme', 'wrong'), undefined, 'never for a wrong password')
  t.ok(await verifier.verify('alice@acme', 'right'))
  t.equal(verifier.cachedEntry('alice@acme', 'right')?.user, 'alice', 'after one')
  t.equal(verifier.cachedEntry('mallory@acme', 'right'), undefined)
  t.equal(bcryptCalls, 2, 'cachedEntry never runs bcrypt')
  entry = { ...entry, hash: await hashPassword('changed', 4) }
  t.equal(verifier.cachedEntry('alice@acme', 'right'), undefined, 'not once the file holds another hash')

  t.equal(verifier.credentialKey('alice@acme', 'right'), verifier.credentialKey('alice@acme', 'right'))
  t.not(verifier.credentialKey('alice@acme', 'right'), verifier.credentialKey('alice@acme', 'right2'))
  t.notMatch(verifier.credentialKey('alice@acme', 'right'), /right|alice/, 'the key holds neither login nor password')

  const uncached = createCredentialVerifier({ get: () => entry, size: 1, close: () => {} }, { cacheTtlMs: 0 })
  t.ok(await uncached.verify('alice@acme', 'changed'))
  t.equal(uncached.cachedEntry('alice@acme', 'changed'), undefined, 'with the cache off, never')
})
