// The bundles npm run dev runs its processes from (scripts/dev/bundle.ts): made again whenever a source they were
// made from changes or disappears, reused while none has.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { bundleEntry } from '../../scripts/dev/bundle.js'

t.test('a bundle is reused while its sources are unchanged, and made again when one changes', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-dev-bundle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'src'))
  writeFileSync(join(dir, 'src', 'preload.ts'), 'export {}\n')
  writeFileSync(join(dir, 'src', 'entry.ts'), "import { word } from './word.js'\nconsole.log(word)\n")
  writeFileSync(join(dir, 'src', 'word.ts'), "export const word: string = 'first'\n")
  const made = async (): Promise<{ file: string; madeAt: number }> => {
    const file = await bundleEntry(dir, 'src/entry.ts', 'src/preload.ts')
    return { file, madeAt: statSync(file).mtimeMs }
  }

  const first = await made()
  t.match(readFileSync(first.file, 'utf8'), 'var word = "first"')
  const again = await made()
  t.equal(again.madeAt, first.madeAt, 'reused: nothing changed')

  writeFileSync(join(dir, 'src', 'word.ts'), "export const word: string = 'second, and longer'\n")
  const changed = await made()
  t.not(changed.madeAt, first.madeAt, 'made again after an imported file changed')
  t.match(readFileSync(changed.file, 'utf8'), 'second, and longer')

  rmSync(`${changed.file}.map`)
  const mapGone = await made()
  t.not(mapGone.madeAt, changed.madeAt, 'made again when part of it is missing')
  t.ok(statSync(`${mapGone.file}.map`).isFile())
})
