// The credentials file kept current: every change is seen within a few checks, including one made right after the
// proxy read the file (which fs.watchFile missed whenever its first poll came after the change: a race this test
// cannot force, but each check now compares with the version read), a file that appears later, one replaced by
// rename at the same size, and one removed; a removed file is reported once, not at every check.
import { appendFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { hashPassword } from '../../../proxy/auth/htpasswd-file.ts'
import { watchHtpasswd } from '../../../proxy/auth/htpasswd.ts'

const INTERVAL_MS = 20
const hash = await hashPassword('secret', 4)
const line = (login: string): string => `${login}:${hash}\n`

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not seen within 5 s: ${what}`)
    await new Promise(resolve => setTimeout(resolve, INTERVAL_MS))
  }
}

t.test('a login added right after the first read is seen', async t => {
  const file = join(t.testdir(), 'htpasswd')
  writeFileSync(file, line('alice@acme'))
  const store = watchHtpasswd(file, () => {}, { intervalMs: INTERVAL_MS })
  t.teardown(() => store.close())
  appendFileSync(file, line('bob@acme')) // before any check ran
  await until(() => store.get('bob@acme') !== undefined, 'bob@acme')
  t.equal(store.size, 2)
})

t.test('a file that appears later, is replaced at the same size, then removed', async t => {
  const dir = t.testdir()
  const file = join(dir, 'htpasswd')
  const reloads: Array<{ users: number; error?: string }> = []
  const store = watchHtpasswd(file, ({ users, error }) => reloads.push({ users, ...(error ? { error } : {}) }), {
    intervalMs: INTERVAL_MS,
  })
  t.teardown(() => store.close())
  t.equal(store.size, 0, 'no file: no users')
  t.match(reloads, [{ users: 0, error: /ENOENT/ }])

  writeFileSync(file, line('alice@acme'))
  await until(() => store.get('alice@acme') !== undefined, 'the new file')

  // Same length, new inode: what an editor or `mv new htpasswd` does.
  writeFileSync(join(dir, 'next'), line('carol@acme'))
  renameSync(join(dir, 'next'), file)
  await until(() => store.get('carol@acme') !== undefined, 'the renamed file')
  t.equal(store.get('alice@acme'), undefined, 'the old login is gone')

  rmSync(file)
  await until(() => store.size === 0, 'the removal')
  const before = reloads.length
  await new Promise(resolve => setTimeout(resolve, INTERVAL_MS * 10))
  t.equal(reloads.length, before, 'a missing file is reported once, not at every check')
})

t.test('a closed store reads no more', async t => {
  const file = join(t.testdir(), 'htpasswd')
  writeFileSync(file, line('alice@acme'))
  let reloads = 0
  const store = watchHtpasswd(file, () => reloads++, { intervalMs: INTERVAL_MS })
  store.close()
  appendFileSync(file, line('bob@acme'))
  await new Promise(resolve => setTimeout(resolve, INTERVAL_MS * 10))
  t.equal(reloads, 1, 'only the first read')
  t.equal(store.get('bob@acme'), undefined)
})
