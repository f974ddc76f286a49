// ACME storage: files under DATA_DIR/acme readable by their owner only, written whole; keys that could
// escape the folder refused; and a lock that one holder at a time gets, in files and in Redis.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStorage } from '../../../../proxy/tls/acme/redis-storage.ts'
import { FILE_LOCK_STALE_MS, FileStorage, type AcmeStorage } from '../../../../proxy/tls/acme/storage.ts'

/** Two contenders for one lock: the second gets it only after the first released it. */
async function lockIsExclusive(t: import('tap').Test, one: AcmeStorage, two: AcmeStorage): Promise<void> {
  const events: string[] = []
  const releaseOne = await one.lock('certificate-edge.example.com')
  events.push('one holds')
  const second = two.lock('certificate-edge.example.com').then(release => {
    events.push('two holds')
    return release
  })
  await new Promise(resolve => setTimeout(resolve, 400))
  events.push('one releases')
  await releaseOne()
  const releaseTwo = await second
  await releaseTwo()
  t.same(events, ['one holds', 'one releases', 'two holds'], 'one holder at a time')
}

t.test('files', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-storage-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const storage = new FileStorage(join(dir, 'acme'))
  t.teardown(() => storage.close())
  await storage.put('ca.example-dir/certificates/edge.example.com.key', 'secret')
  t.equal(await storage.get('ca.example-dir/certificates/edge.example.com.key'), 'secret')
  t.equal(
    statSync(join(dir, 'acme/ca.example-dir/certificates/edge.example.com.key')).mode & 0o777,
    0o600,
    'the file is 0600',
  )
  t.equal(statSync(join(dir, 'acme/ca.example-dir')).mode & 0o777, 0o700, 'its folder 0700')
  t.equal(await storage.get('ca.example-dir/account.key'), undefined, 'a missing key reads as undefined')
  await storage.delete('ca.example-dir/certificates/edge.example.com.key')
  t.equal(await storage.get('ca.example-dir/certificates/edge.example.com.key'), undefined, 'deleted')
  await t.rejects(storage.get('../../etc/passwd'), /invalid ACME storage key/, 'no key leaves the folder')
  await t.rejects(storage.put('/etc/passwd', 'x'), /invalid ACME storage key/)

  await lockIsExclusive(t, storage, new FileStorage(join(dir, 'acme')))
  // A lock file nobody touched for longer than the stale limit belonged to a process that died.
  writeFileSync(join(dir, 'acme/locks/certificate-dead.example.lock'), '99999')
  const old = new Date(Date.now() - FILE_LOCK_STALE_MS - 1000)
  utimesSync(join(dir, 'acme/locks/certificate-dead.example.lock'), old, old)
  const release = await storage.lock('certificate-dead.example')
  t.pass('a stale lock is taken over')
  await release()
})

t.test('redis', async t => {
  const prefix = `gatehouse-test-acme-storage-${randomBytes(4).toString('hex')}:`
  const redis = new Redis('redis://127.0.0.1:6379')
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  const one = RedisStorage.connect('redis://127.0.0.1:6379', () => {}, prefix)
  const two = RedisStorage.connect('redis://127.0.0.1:6379', () => {}, prefix)
  t.teardown(async () => {
    await one.close()
    await two.close()
  })
  await one.put('ca/account.key', 'secret')
  t.equal(await two.get('ca/account.key'), 'secret', 'what one proxy stores the other reads')
  await lockIsExclusive(t, one, two)
  t.same(await redis.keys(`${prefix}locks/*`), [], 'released locks are gone')
  // A holder whose lock expired (it paused past the TTL) and was taken cannot release the next holder's.
  const releaseStale = await one.lock('certificate-x')
  await redis.set(`${prefix}locks/certificate-x`, 'someone-else')
  await releaseStale()
  t.equal(await redis.get(`${prefix}locks/certificate-x`), 'someone-else', "the other holder's lock stays")
})
