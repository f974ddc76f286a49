// The bundles npm run dev runs its processes from (scripts/dev/bundle.ts): made again whenever a source they were
// made from changes or disappears, reused while none has.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { bundleEntry } from '../../scripts/dev/bundle.ts'

t.test('a bundle is reused while its sources are unchanged, and made again when one changes', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-dev-bundle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'src'))
  writeFileSync(join(dir, 'src', 'preload.ts'), 'export {}\n')
  writeFileSync(join(dir, 'src', 'entry.ts'), "import { word } from './word.js'\nprocess.stdout.write(word)\n")
  writeFileSync(join(dir, 'src', 'word.ts'), "export const word: string = 'first'\n")
  // Written well before the bundle is made: one modified as it is made is taken as possibly half-read (below).
  const aMinuteAgo = new Date(Date.now() - 60_000)
  for (const file of ['preload.ts', 'entry.ts', 'word.ts']) utimesSync(join(dir, 'src', file), aMinuteAgo, aMinuteAgo)
  // Each bundle is written anew and renamed into place: a new inode means it was made again.
  const made = async (): Promise<{ file: string; inode: number }> => {
    const file = await bundleEntry(dir, 'src/entry.ts', 'src/preload.ts')
    return { file, inode: statSync(file).ino }
  }

  const first = await made()
  t.match(readFileSync(first.file, 'utf8'), 'var word = "first"')
  const again = await made()
  t.equal(again.inode, first.inode, 'reused: nothing changed')

  writeFileSync(join(dir, 'src', 'word.ts'), "export const word: string = 'second, and longer'\n")
  // Saved as the bundle was being made, as far as the bundler can tell: a file time not before the build began.
  const aMinuteAhead = new Date(Date.now() + 60_000)
  utimesSync(join(dir, 'src', 'word.ts'), aMinuteAhead, aMinuteAhead)
  const changed = await made()
  t.not(changed.inode, first.inode, 'made again after an imported file changed')
  t.match(readFileSync(changed.file, 'utf8'), 'second, and longer')

  t.not((await made()).inode, changed.inode, 'a file modified as its bundle was made makes it again next time')

  utimesSync(join(dir, 'src', 'word.ts'), aMinuteAgo, aMinuteAgo)
  const settled = await made()
  t.equal((await made()).inode, settled.inode, 'and once settled, it is reused')
  writeFileSync(join(dir, 'tsconfig.json'), '{ "compilerOptions": { "useDefineForClassFields": false } }\n')
  utimesSync(join(dir, 'tsconfig.json'), aMinuteAgo, aMinuteAgo)
  const configured = await made()
  t.not(configured.inode, settled.inode, 'made again when tsconfig.json appears, which esbuild also reads')

  rmSync(`${configured.file}.map`)
  const mapGone = await made()
  t.not(mapGone.inode, configured.inode, 'made again when part of it is missing')
  t.ok(statSync(`${mapGone.file}.map`).isFile())
})
