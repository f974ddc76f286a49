// The API and the proxy compiled as the image builds them (tsc -p tsconfig.build.json) and run as plain node:
// what production runs, with no TypeScript loader in the measured processes (nor in their profiles).
// The output sits under the git-ignored .scratch/ so node_modules resolves from the repository.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const ROOT = join(import.meta.dirname, '..')

export async function buildForBench (name: string): Promise<{ dir: string, remove(): void }> {
  const dir = join(ROOT, '.scratch', name)
  mkdirSync(dir, { recursive: true })
  try {
    await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')],
      { cwd: ROOT, timeout: 180_000 })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`the build (tsc -p tsconfig.build.json) failed:\n${(error as { stdout?: string }).stdout ?? (error as Error).message}`)
  }
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
