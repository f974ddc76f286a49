// compose.yaml as Docker Compose sees it: YAML with merge keys, then ${…} interpolated from the .env that
// scripts/generate-env.sh writes (run here into a temporary project folder).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { readYaml, repoPath } from '../ops/ops-helpers.ts'

export interface Service {
  image?: string
  build?: unknown
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  expose?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[]; disable?: boolean }
  networks?: string[] | Record<string, unknown>
  logging?: { driver: string; options: Record<string, string> }
}
export interface Compose {
  services: Record<string, Service>
  networks: Record<string, unknown>
  volumes: Record<string, unknown>
}

export const rawCompose = (): Compose => readYaml<Compose>('compose.yaml')

/** Runs scripts/generate-env.sh into a fresh folder; returns the folder and its .env as a map. */
export function generatedProject(t: Test): { dir: string; env: Record<string, string>; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const result = spawnSync('bash', [repoPath('scripts/generate-env.sh'), dir], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`generate-env.sh failed: ${result.stderr}`)
  const env: Record<string, string> = {}
  for (const line of readFileSync(join(dir, '.env'), 'utf8').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (match !== null) env[match[1]!] = match[2]!
  }
  return { dir, env, output: result.stdout }
}

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
export function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (whole === '$$') return '$'
      const set = name! in env
      const present = set && (op?.startsWith(':') !== true || env[name!] !== '')
      if (op === undefined) return env[name!] ?? ''
      if (op.endsWith('-')) return present ? env[name!]! : arg!
      if (!present) throw new Error(`${name} is required: ${arg}`)
      return env[name!]!
    },
  )
}

export function interpolated(env: Record<string, string>): Compose {
  const walk = (node: unknown): unknown =>
    typeof node === 'string'
      ? interpolate(node, env)
      : Array.isArray(node)
        ? node.map(walk)
        : node !== null && typeof node === 'object'
          ? Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]))
          : node
  return walk(rawCompose()) as Compose
}

export const networksOf = (service: Service): string[] =>
  Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? { default: {} })
