// Store keys: the tenant, generation and URL hashed into a short key — the same key as earlier versions made,
// so that proxies of two versions sharing one Redis (a rolling deploy) find each other's entries.
import { createHash } from 'node:crypto'
import t from 'tap'
import { flatKey, memoryResponseStore, type CachedResponse } from '../../../proxy/cache/response-store.ts'

t.test('a key is its segment and the base64url SHA-256 of its id, as before', async t => {
  for (const id of [
    'acme\n0\n/api/v1/projects?limit=20',
    'ümlaut\n3\n/api/v1/projects?q=caf%C3%A9',
    '',
    'x'.repeat(10_000),
  ]) {
    t.equal(
      flatKey({ segment: 'gatehouse-responses', id }),
      `gatehouse-responses:${createHash('sha256').update(id).digest('base64url')}`,
    )
  }
  t.equal(flatKey('plain'), 'plain', "string keys (@fastify/caching's own) are used as they are")
})

t.test("the last id's digest, kept, is the one for that id alone, whatever the segment", async t => {
  const digest = (id: string): string => createHash('sha256').update(id).digest('base64url')
  for (const [segment, id] of [
    ['a', 'one'],
    ['b', 'one'],
    ['a', 'two'],
    ['a', 'one'],
    ['c', ''],
  ]) {
    t.equal(flatKey({ segment: segment!, id: id! }), `${segment}:${digest(id!)}`, `${segment} ${id}`)
  }
})

t.test('the memory store finds an entry by an equal key and not by another', async t => {
  const store = memoryResponseStore({ maxEntries: 10, maxBytes: 1 << 20, onError: () => {} })
  const now = Date.now()
  const entry: CachedResponse = {
    status: 200,
    headers: {},
    body: Buffer.from('{}'),
    storedAt: now,
    freshUntil: now + 5000,
    staleUntil: now + 5000,
    vary: {},
  }
  await store.set({ segment: 's', id: 'acme\n0\n/a' }, entry, 5000)
  t.equal((await store.get({ segment: 's', id: 'acme\n0\n/a' }))?.item, entry)
  t.equal(await store.get({ segment: 's', id: 'acme\n0\n/b' }), null)
  t.equal(await store.get({ segment: 's', id: 'globex\n0\n/a' }), null)
})
