// The manager against a storage that fails or holds a bad record: an order's certificate is served even when it
// cannot be stored or the lock cannot be given back, and a record whose key is not its chain's is ordered anew.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { CertificateBook } from '../../../../proxy/tls/acme/certificate-book.ts'
import { AcmeManager } from '../../../../proxy/tls/acme/manager.ts'
import { FileStorage, type AcmeStorage } from '../../../../proxy/tls/acme/storage.ts'
import { fromRecord, toRecord } from '../../../../proxy/tls/acme/stored-certificate.ts'
import { ensureLocalCertificate, type TlsMaterial } from '../../../../proxy/tls/local-ca.ts'

const NAME = 'edge.example.com'

async function setting(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-manager-storage-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = await ensureLocalCertificate(join(dir, 'one'), [NAME])
  const second = await ensureLocalCertificate(join(dir, 'two'), [NAME])
  return { dir, first: { cert: first.cert, key: first.key }, second: { cert: second.cert, key: second.key } }
}

/** File storage in `dir` with some of its operations replaced: a store that fails in one way only. */
function fileStorageExcept(dir: string, failing: Partial<AcmeStorage>): AcmeStorage {
  const files = new FileStorage(dir)
  return {
    shared: false,
    get: key => files.get(key),
    put: (key, value) => files.put(key, value),
    delete: key => files.delete(key),
    lock: name => files.lock(name),
    close: () => files.close(),
    ...failing,
  }
}

function manage(storage: AcmeStorage, issued: TlsMaterial, orders: string[]) {
  const logged: Array<{ msg: string }> = []
  const book = new CertificateBook()
  const manager = new AcmeManager({
    issuer: {
      async obtain(names) {
        orders.push(...names)
        return issued
      },
    },
    storage,
    storageKey: name => `test/${name}.pem`,
    book,
    log: pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line)) }),
    retry: { baseMs: 60_000, maxMs: 60_000 },
  })
  return { manager, book, logged }
}

t.test('a record round-trips, and one whose key is not the leaf’s is refused', async t => {
  const { first, second } = await setting(t)
  t.same(fromRecord(toRecord(first)), first, 'chain and key back as they went in')
  t.equal(fromRecord(toRecord({ cert: first.cert, key: second.key })), undefined, 'a key of another certificate')
  t.equal(fromRecord('not a certificate'), undefined, 'garbage')
  t.equal(fromRecord(first.cert), undefined, 'a chain without its key')
})

t.test('a certificate that cannot be stored is still served, and the order is not repeated', async t => {
  const { dir, first } = await setting(t)
  const failingPuts = fileStorageExcept(dir, {
    put: async () => {
      throw new Error('disk full')
    },
  })
  const orders: string[] = []
  const { manager, book, logged } = manage(failingPuts, first, orders)
  t.teardown(() => manager.close())
  manager.manage([NAME])
  t.equal(await manager.refresh(NAME), true, 'obtained')
  t.equal(book.get(NAME)?.material.cert, first.cert, 'served from memory')
  t.same(orders, [NAME], 'one order')
  t.ok(
    logged.some(line => line.msg.includes('not stored')),
    'the failed write is logged',
  )
})

t.test('a lock that cannot be released does not cost the certificate', async t => {
  const { dir, first } = await setting(t)
  const stuckLock = fileStorageExcept(dir, {
    lock: async () => async () => {
      throw new Error('the store went away')
    },
  })
  const { manager, book, logged } = manage(stuckLock, first, [])
  t.teardown(() => manager.close())
  manager.manage([NAME])
  t.equal(await manager.refresh(NAME), true, 'obtained')
  t.equal(book.get(NAME)?.material.cert, first.cert)
  t.ok(logged.some(line => line.msg.includes('lock not released')))
})

t.test('a stored record whose key does not match its chain is ordered anew, and replaced', async t => {
  const { dir, first, second } = await setting(t)
  const storage = new FileStorage(dir)
  await storage.put(`test/${NAME}.pem`, toRecord({ cert: first.cert, key: second.key }))
  const orders: string[] = []
  const { manager, book, logged } = manage(storage, second, orders)
  t.teardown(() => manager.close())
  manager.manage([NAME])
  t.equal(await manager.refresh(NAME), true)
  t.same(orders, [NAME], 'ordered, since the stored record was of no use')
  t.equal(book.get(NAME)?.material.cert, second.cert)
  t.same(fromRecord((await storage.get(`test/${NAME}.pem`)) ?? ''), second, 'the good pair replaced it')
  t.equal(logged.filter(line => line.msg.includes('unusable')).length, 1, 'said once, not again under the lock')
})
