// The API and the proxy compiled as the image builds them (tsc -p tsconfig.build.json) and run as plain node:
// what production runs, with no TypeScript loader in the measured processes (nor in their profiles).
// The output sits under the git-ignored .scratch/ so node_modules resolves from the repository.
import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const ROOT = join(import.meta.dirname, '..')

/** The bench's own servers, compiled with the build: no TypeScript loader in their measured processes either. */
export const BENCH_ENTRIES = ['bench/bare-forward.ts', 'bench/minimal-edge.ts', 'bench/trivial-upstream.ts']

export async function buildForBench(name: string): Promise<{ dir: string; remove(): void }> {
  const dir = join(ROOT, '.scratch', name)
  mkdirSync(dir, { recursive: true })
  // tsconfig.build.json's sources plus BENCH_ENTRIES (and what they import), into dir/dist/ with the same layout.
  const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
  const config = join(dir, 'tsconfig.bench.json')
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.build.json'),
      compilerOptions: { rootDir: ROOT, outDir: join(dir, 'dist') },
      include: [...build.include, ...BENCH_ENTRIES].map(path => join(ROOT, path)),
      exclude: [join(ROOT, 'test')],
    }),
  )
  try {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    await promisify(execFile)(process.execPath, [tsc, '-p', config], { cwd: ROOT, timeout: 180_000 })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    const output = (error as { stdout?: string }).stdout ?? (error as Error).message
    throw new Error(`the build (tsc -p tsconfig.build.json, with the bench's servers) failed:\n${output}`)
  }
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  // As the image has them: the API on embedded PGlite migrates its database when it opens it.
  cpSync(join(ROOT, 'prisma/migrations'), join(dir, 'prisma/migrations'), { recursive: true })
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * The same build of another commit (BENCH_BASELINE_REF), for before/after comparisons inside one interleaved
 * run: the commit's sources from `git archive`, with the generated Prisma client of this checkout (it is not
 * in git), compiled next to the current build.
 */
export async function buildRefForBench(
  ref: string,
  name: string,
): Promise<{ dir: string; commit: string; remove(): void }> {
  const run = promisify(execFile)
  let commit: string
  try {
    commit = (await run('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: ROOT })).stdout.trim()
  } catch {
    throw new Error(`BENCH_BASELINE_REF: "${ref}" is not a commit of this repository`)
  }
  const dir = join(ROOT, '.scratch', name)
  mkdirSync(dir, { recursive: true })
  const remove = (): void => rmSync(dir, { recursive: true, force: true })
  try {
    await run(
      'sh',
      [
        '-c',
        `git archive --format=tar "$1" server proxy common scripts prisma tsconfig.json tsconfig.build.json package.json | tar -x -C "$2"`,
        'sh',
        commit,
        dir,
      ],
      { cwd: ROOT },
    )
    cpSync(join(ROOT, 'server/db/generated'), join(dir, 'server/db/generated'), { recursive: true })
    await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')],
      { cwd: dir, timeout: 180_000 },
    )
  } catch (error) {
    remove()
    throw new Error(
      `building ${ref} (${commit}) failed:\n${(error as { stdout?: string }).stdout ?? (error as Error).message}`,
    )
  }
  return { dir, commit, remove }
}
