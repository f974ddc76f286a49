// Each process of `npm run dev` runs from a bundle of the project's own sources, made by esbuild when it starts (and
// reused while its sources are unchanged).
// Why not tsx, as before: its resolve and load hooks ran for every one of the ~1,700 modules a process loads, the
// 67 files of ours and all of node_modules'. The API reached /ready in 2.5–2.7 s on tsx and 1.9–2.1 s from a
// bundle (server/main.ts alone, 3 starts each, 2026-12-05); esbuild makes the bundle in about 0.1 s. Packages stay
// outside it and load as Node loads them, lazily where the code imports them lazily.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Plugin } from 'esbuild'

export class BundleError extends Error {
  readonly lines: string[]
  constructor(lines: string[]) {
    super(lines.join('\n'))
    this.lines = lines
    this.name = 'BundleError'
  }
}

// This file's own text is part of what a bundle was made by: a change to how bundles are made makes new ones.
const OWN_SOURCE = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .digest('base64url')
// esbuild itself is imported only to make a bundle (30 ms that a start reusing both need not spend); its version, part
// of what a bundle was made by, comes from its package.json.
const ESBUILD_VERSION = (createRequire(import.meta.url)('esbuild/package.json') as { version: string }).version

// Code of ours that finds files beside itself (migrations, the Prisma client's engine, packages resolved from it)
// reads its own module's URL: each file keeps its own, not the bundle's.
const OWN_URL = /\bimport\.meta\.url\b/g
const keepModuleUrls: Plugin = {
  name: 'keep-module-urls',
  setup(bundler) {
    bundler.onLoad({ filter: /\.[cm]?ts$/ }, async ({ path }) => {
      if (path.split(sep).includes('node_modules')) return undefined
      const source = await readFile(path, 'utf8')
      return { contents: source.replace(OWN_URL, JSON.stringify(pathToFileURL(path).href)), loader: 'ts' }
    })
  },
}

/**
 * Bundles `preload` then `entry` (paths absolute or relative to `cwd`) into one ES module with its source map, under
 * cwd's node_modules (so the packages it imports resolve as they do from the sources), and returns its path. A source
 * that does not compile rejects with a BundleError holding esbuild's messages, file and line included.
 */
export async function bundleEntry(cwd: string, entry: string, preload: string): Promise<string> {
  const outfile = join(cwd, 'node_modules', '.cache', 'gatehouse', 'dev', `${entry.replace(/[/\\.]/g, '-')}.mjs`)
  const inputsFile = `${outfile}.inputs.json`
  const importOf = (file: string): string => `import ${JSON.stringify(`./${relative(cwd, resolve(cwd, file))}`)}`
  const recipe = JSON.stringify({
    esbuild: ESBUILD_VERSION,
    node: process.versions.node,
    bundler: OWN_SOURCE,
    entry,
    preload,
  })
  if (await unchanged(cwd, outfile, inputsFile, recipe)) return outfile
  // File times come from a coarse clock, a few ms behind: anything modified this close to the start may have changed
  // while esbuild read it.
  const startedAt = Date.now() - 20
  const { build } = await import('esbuild')
  const result = await build({
    stdin: { contents: `${importOf(preload)}\n${importOf(entry)}\n`, resolveDir: cwd, loader: 'ts' },
    outfile,
    // Messages name files relative to the project, as its other tools do.
    absWorkingDir: cwd,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    sourcemap: 'linked',
    // Names as written, for stack traces and logs (`class ConfigError`, not `_ConfigError`).
    keepNames: true,
    plugins: [keepModuleUrls],
    write: false,
    metafile: true,
    logLevel: 'silent',
  }).catch((error: unknown) => {
    const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> })
      .errors
    if (errors === undefined) throw error
    throw new BundleError(
      errors.map(({ text, location }) => (location ? `${location.file}:${location.line}: ${text}` : text)),
    )
  })
  await mkdir(dirname(outfile), { recursive: true })
  // Written beside and renamed into place, the map first: a process never loads half a bundle.
  const isMap = (file: { path: string }): boolean => file.path.endsWith('.map')
  for (const file of [...result.outputFiles.filter(isMap), ...result.outputFiles.filter(file => !isMap(file))]) {
    const partial = `${file.path}.${process.pid}.partial`
    await writeFile(partial, file.contents)
    await rename(partial, file.path)
  }
  // esbuild also reads tsconfig.json, which its list of inputs leaves out.
  const inputs = [...Object.keys(result.metafile.inputs).filter(input => input !== '<stdin>'), 'tsconfig.json']
  const prints = await fingerprints(cwd, inputs)
  // Changed while esbuild read it: which version the bundle holds is unknown, so the next start makes it again.
  if (Object.values(prints).some(print => Number.parseFloat(print) >= startedAt)) return outfile
  await writeFile(inputsFile, JSON.stringify({ recipe, inputs: prints } satisfies Manifest))
  return outfile
}

// What a bundle was made from, beside it: a start whose sources are all as they were then reuses it (0.2 s sooner
// for both processes).
interface Manifest {
  recipe: string
  /** Each input's `mtime:size`, or `absent`. */
  inputs: Record<string, string>
}

async function fingerprints(cwd: string, inputs: string[]): Promise<Record<string, string>> {
  const prints = await Promise.all(
    inputs.map(input =>
      stat(join(cwd, input)).then(
        ({ mtimeMs, size }) => `${mtimeMs}:${size}`,
        () => 'absent',
      ),
    ),
  )
  return Object.fromEntries(inputs.map((input, index) => [input, prints[index]!]))
}

async function unchanged(cwd: string, outfile: string, inputsFile: string, recipe: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(inputsFile, 'utf8')) as Manifest
    if (manifest.recipe !== recipe) return false
    await Promise.all([stat(outfile), stat(`${outfile}.map`)])
    const now = await fingerprints(cwd, Object.keys(manifest.inputs))
    return Object.entries(manifest.inputs).every(([input, print]) => now[input] === print)
  } catch {
    return false // none yet, unreadable, or part of the bundle gone: bundle again
  }
}
