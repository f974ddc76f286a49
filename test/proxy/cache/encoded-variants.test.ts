// Coded variants beside a stored entry, on the memory store: a new entry replaces the variants of the one before,
// and with compression off storing an entry costs the store nothing more.
import { systemClock } from '../../../common/clock.ts'
import t from 'tap'
import { EncodedVariants } from '../../../proxy/cache/encoded-variants.ts'
import { memoryResponseStore, type CachedResponse, type ResponseStore } from '../../../proxy/cache/response-store.ts'
import type { CompressionSettings } from '../../../proxy/compression/policy.ts'

const SETTINGS: CompressionSettings = {
  enabled: true,
  encodings: ['zstd', 'br', 'gzip'],
  levels: { zstd: 1, br: 1, gzip: 1 },
  minBytes: 16,
}
const STORE_OPTIONS = {
  maxEntries: 100,
  maxBytes: 1 << 20,
  onError: (error: Error) => {
    throw error
  },
}
const key = { segment: 'tenant-a', id: 'GET /api/v1/projects' }

function entry(): CachedResponse {
  const now = Date.now()
  return {
    status: 200,
    headers: { 'content-type': 'application/json', etag: '"v1"' },
    body: Buffer.from(JSON.stringify({ data: Array.from({ length: 50 }, (_, i) => ({ id: i, name: 'project' })) })),
    storedAt: now,
    freshUntil: now + 60_000,
    staleUntil: now + 60_000,
    vary: {},
  }
}

function counting(store: ResponseStore): { store: ResponseStore; calls: string[] } {
  const calls: string[] = []
  const counted = Object.create(store) as ResponseStore
  for (const method of ['get', 'set', 'delete'] as const) {
    counted[method] = ((...args: Parameters<ResponseStore[typeof method]>) => {
      calls.push(method)
      return (store[method] as (...a: unknown[]) => Promise<unknown>)(...args)
    }) as never
  }
  return { store: counted, calls }
}

t.test('a new entry drops the variants of the one it replaces, and keeps the coding asked for', async t => {
  const store = memoryResponseStore(STORE_OPTIONS)
  const variants = new EncodedVariants(store, SETTINGS, systemClock)
  const first = entry()
  variants.prepare(first)
  t.ok(first.encodable, 'a JSON page is coded for those who ask')
  t.equal((await variants.replaced(key, first, 'br'))?.headers['content-encoding'], 'br')
  t.ok(await variants.find(key, 'br'), 'the br variant is kept')
  const second = entry()
  variants.prepare(second)
  t.equal((await variants.replaced(key, second, 'gzip'))?.headers.etag, 'W/"v1"')
  t.equal(await variants.find(key, 'br'), undefined, 'the old br variant is gone')
  t.ok(await variants.find(key, 'gzip'))
})

t.test('with compression off, storing an entry touches no variant', async t => {
  const { store, calls } = counting(memoryResponseStore(STORE_OPTIONS))
  const variants = new EncodedVariants(store, { ...SETTINGS, enabled: false }, systemClock)
  const stored = entry()
  variants.prepare(stored)
  t.notOk(stored.encodable)
  t.equal(await variants.replaced(key, stored, 'gzip'), undefined)
  t.same(calls, [], 'no store round trip')
})
