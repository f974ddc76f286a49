// A V8 .cpuprofile (node --cpu-prof) as text: busy time by area (Node's subsystems, each npm package, each of
// our files), the functions with the most self time, and the total time (self and callees) of our own
// functions — the hot path of the proxy, to set against bare forwarding.
import { relative } from 'node:path'
import { ROOT } from './build.ts'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
export interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

const IDLE = new Set(['(idle)'])
const PSEUDO: Record<string, string> = {
  '(garbage collector)': 'V8: garbage collector',
  '(program)': 'V8/native: outside JS',
  '(root)': '(root)',
}

/**
 * Which part of the stack a frame belongs to. `buildDir` holds the compiled dist/ of our code; the repository's sources
 * (run as TypeScript) count as ours too.
 */
export function areaOf(frame: CallFrame, buildDir: string): { area: string; file: string } {
  const { url, functionName } = frame
  if (url === '') return { area: PSEUDO[functionName] ?? 'native builtins', file: '' }
  if (url.startsWith('node:')) {
    const module = url
      .slice(5)
      .replace(/^internal\//, '')
      .split('/')[0]!
      .replace(/^_+/, '')
      .replace(/_(wrap|server|client|common|outgoing|incoming)$/, '')
      .replace(/^http_/, 'http')
    return { area: `node: ${module}`, file: url }
  }
  if (url.startsWith('wasm:')) return { area: "wasm (undici's llhttp parser)", file: '' }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const packages = path.split('/node_modules/')
  if (packages.length > 1) {
    const rest = packages.at(-1)!.split('/')
    return {
      area: rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!,
      file: rest.slice(rest[0]!.startsWith('@') ? 2 : 1).join('/'),
    }
  }
  for (const root of [`${buildDir}/dist`, ROOT]) {
    const ours = relative(root, path)
    if (path.startsWith('/') && !ours.startsWith('..')) {
      const file = ours.replace(/\.js$/, '.ts')
      return { area: `ours: ${file}`, file }
    }
  }
  return { area: path, file: path }
}

const percent = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)} %`

/** A span of CLOCK_MONOTONIC in µs: the profile's own clock (V8's TimeTicks) and process.hrtime's. */
export interface Window {
  fromUs: number
  toUs: number
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n)

/**
 * Summarises the samples taken within `window` (the load itself: start-up, module loading and the probe
 * before it are left out), or all of them when the window does not overlap the profile.
 */
export function summariseProfile(profile: CpuProfile, buildDir: string, window?: Window, top = 25): string {
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  // Every sample stands for one sampling interval. The gaps between samples are not used: on a busy machine
  // the process can be descheduled for tens of ms, and that gap would be charged to whatever ran last.
  const interval = [...profile.timeDeltas].sort((a, b) => a - b)[Math.floor(profile.timeDeltas.length / 2)] ?? 1000

  const selfByArea = new Map<string, number>()
  const selfByFunction = new Map<string, { name: string; where: string; area: string; self: number }>()
  const ours = new Map<string, { name: string; where: string; self: number; total: number }>()
  let busy = 0
  let idle = 0
  const at: number[] = []
  profile.timeDeltas.reduce((time, delta, index) => {
    at[index] = time + delta
    return at[index]!
  }, profile.startTime)
  const overlaps = window !== undefined && window.fromUs < profile.endTime && window.toUs > profile.startTime
  profile.samples.forEach((id, index) => {
    if (overlaps && (at[index]! < window.fromUs || at[index]! > window.toUs)) return
    const leaf = byId.get(id)!
    if (IDLE.has(leaf.callFrame.functionName)) {
      idle += interval
      return
    }
    busy += interval
    const { area, file } = areaOf(leaf.callFrame, buildDir)
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + interval)
    const where =
      file === '' ? area : `${area.startsWith('ours: ') ? file : `${area} ${file}`}:${leaf.callFrame.lineNumber + 1}`
    const name = leaf.callFrame.functionName || '(anonymous)'
    const fnKey = `${name} ${where}`
    const entry = selfByFunction.get(fnKey) ?? { name, where, area, self: 0 }
    entry.self += interval
    selfByFunction.set(fnKey, entry)
    // Total time of our functions: each function once per sample, however often it recurses.
    const seen = new Set<string>()
    for (let node: ProfileNode | undefined = leaf; node !== undefined; node = byId.get(parent.get(node.id) ?? -1)) {
      const located = areaOf(node.callFrame, buildDir)
      if (!located.area.startsWith('ours: ')) continue
      const key = `${node.callFrame.functionName || '(anonymous)'} ${located.file}:${node.callFrame.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      const own = ours.get(key) ?? {
        name: node.callFrame.functionName || '(anonymous)',
        where: `${located.file}:${node.callFrame.lineNumber + 1}`,
        self: 0,
        total: 0,
      }
      own.total += interval
      if (node === leaf) own.self += interval
      ours.set(key, own)
    }
  })

  const lines = [
    overlaps
      ? 'Samples taken while wrk ran (start-up and probes left out).'
      : "All samples (the load's time span was not found in the profile).",
    `Busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms (${percent(busy, busy + idle)} busy). Percentages are of busy time.`,
    '',
    '| Area (self time) | % of busy | ms |',
    '| --- | ---: | ---: |',
    ...[...selfByArea]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, time]) => `| ${area} | ${percent(time, busy)} | ${(time / 1000).toFixed(0)} |`),
    '',
    '| Function (self time) | Where | % of busy |',
    '| --- | --- | ---: |',
    ...[...selfByFunction.values()]
      .sort((a, b) => b.self - a.self)
      .slice(0, top)
      .map(entry => `| ${entry.name} | ${entry.where} | ${percent(entry.self, busy)} |`),
    '',
    '| Our function (total = self + callees) | Where | total | self |',
    '| --- | --- | ---: | ---: |',
    ...[...ours.values()]
      .sort((a, b) => b.total - a.total)
      .slice(0, top)
      .map(
        entry => `| ${entry.name} | ${entry.where} | ${percent(entry.total, busy)} | ${percent(entry.self, busy)} |`,
      ),
  ]
  return lines.join('\n') + '\n'
}
