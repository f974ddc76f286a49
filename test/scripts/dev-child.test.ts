// One process of npm run dev (scripts/dev/dev-child.ts), on a stand-in entry that says what happens to it:
// a change restarts it without ending anything, a stop sends one signal, a stop of its own is reported with its
// last lines, and it does not outlive dev.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { DevChild, type ChildStop } from '../../scripts/dev/dev-child.ts'
import { eventually } from '../helpers/edge-stack.ts'

const ENTRY = `
process.stdout.write('started ' + process.pid + '\\n')
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { process.stdout.write('got ' + signal + '\\n'); process.exit(0) })
}
const exitCode = process.env.EXIT_CODE
if (exitCode !== undefined) {
  setTimeout(() => { process.stderr.write('failing on purpose\\n'); process.exit(Number(exitCode)) }, 50)
}
setInterval(() => {}, 1000)
`

interface Harness {
  child: DevChild
  lines: string[]
  restarts: string[]
  stops: ChildStop[]
  src: string
  dir: string
}

function harness(t: Test, env: Record<string, string> = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-dev-child-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'entry.ts'), ENTRY)
  writeFileSync(join(src, 'other.ts'), 'export const x = 1\n')
  const lines: string[] = []
  const restarts: string[] = []
  const stops: ChildStop[] = []
  const child = new DevChild({
    name: 'stub',
    entry: 'src/entry.ts',
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
    watch: [src],
    onLine: line => lines.push(line),
    onUnexpectedStop: stop => stops.push(stop),
    onRestart: changed => restarts.push(changed),
  })
  t.teardown(() => child.stop('SIGKILL', 0))
  return { child, lines, restarts, stops, src, dir }
}

const started = (lines: string[]): string[] => lines.filter(line => line.startsWith('started '))

t.test('a change to a watched source file restarts it; dev goes on; a stop sends one signal', async t => {
  const { child, lines, restarts, stops, src } = harness(t)
  child.start()
  await eventually(async () => started(lines).length === 1, 20_000, 'the first start')
  const first = child.pid

  writeFileSync(join(src, 'notes.swp'), "an editor's swap file")
  writeFileSync(join(src, 'other.ts'), 'export const x = 2\n')
  await eventually(async () => started(lines).length === 2, 20_000, 'the restart')
  t.not(child.pid, first, 'a new process')
  t.same(restarts, [join('src', 'other.ts')], 'one restart, for the source file (not the swap file)')
  t.ok(lines.includes('got SIGTERM'), 'the old one was asked to stop, and could drain')
  t.same(stops, [], 'a restart is not a stop')

  const stop = await child.stop('SIGINT', 10_000)
  t.same({ code: stop.code, signal: stop.signal }, { code: 0, signal: null })
  t.equal(lines.filter(line => line === 'got SIGINT').length, 1, 'one SIGINT')
  t.same(stops, [], 'a requested stop is not reported as unexpected')
})

t.test('a process that stops by itself is reported with its status and last lines', async t => {
  const { child, stops } = harness(t, { EXIT_CODE: '3' })
  child.start()
  await eventually(async () => stops.length === 1, 20_000, 'the stop')
  t.equal(stops[0]!.code, 3)
  t.ok(stops[0]!.lines.includes('failing on purpose'), 'its last words come with it')
  const stop = await child.stop('SIGINT', 1000)
  t.equal(stop.code, 3, 'stopping it afterwards changes nothing')
})

t.test(
  "it runs the sources as written: import.meta.url is the file's own, and stack traces name the TypeScript lines",
  async t => {
    const { child, lines, stops, src } = harness(t)
    mkdirSync(join(src, 'nested'))
    writeFileSync(
      join(src, 'nested', 'where.ts'),
      `export const here: string = import.meta.url\nexport function fail(): never {\n  throw new Error('from where.ts')\n}\n`,
    )
    writeFileSync(
      join(src, 'entry.ts'),
      `import { fail, here } from './nested/where.ts'\nprocess.stdout.write('here ' + here + '\\n')\nfail()\n`,
    )
    child.start()
    await eventually(async () => stops.length === 1, 20_000, 'the process failing')
    t.ok(lines.includes(`here ${pathToFileURL(join(src, 'nested', 'where.ts')).href}`), "the module's own URL")
    t.ok(
      lines.some(line => line.includes(`${join(src, 'nested', 'where.ts')}:3`)),
      'the stack names the source file and line',
    )
  },
)

t.test(
  'a source Node cannot read as TypeScript ends it with status 1 and the message naming file and line',
  async t => {
    const { child, lines, stops, src } = harness(t)
    writeFileSync(join(src, 'other.ts'), 'export const x = (\n')
    writeFileSync(
      join(src, 'entry.ts'),
      `import { x } from './other.ts'\nprocess.stdout.write('started ' + x + '\\n')\n`,
    )
    child.start()
    await eventually(async () => stops.length === 1, 20_000, 'the process failing')
    t.equal(stops[0]!.code, 1)
    t.ok(
      stops[0]!.lines.includes(`${join(src, 'other.ts')}:1`) &&
        stops[0]!.lines.some(line => line.includes('ERR_INVALID_TYPESCRIPT_SYNTAX')),
      `the message names the file, the line and what is wrong (${stops[0]!.lines.join(' | ')})`,
    )
    t.same(started(lines), [], 'no process started')
    t.same(await child.stop('SIGINT', 1000), { code: 1, signal: null, lines: stops[0]!.lines }, 'and it stays stopped')
  },
)

t.test(
  'a process that cannot be started at all is a stop with status 1 and the reason, not a crash of dev',
  async t => {
    const { child, dir, stops } = harness(t)
    rmSync(dir, { recursive: true, force: true }) // its working folder is gone: spawn fails with ENOENT
    child.start()
    await eventually(async () => stops.length === 1, 20_000, 'the stop')
    t.equal(stops[0]!.code, 1)
    t.ok(
      stops[0]!.lines.some(line => line.includes('ENOENT')),
      `the reason comes with it (${stops[0]!.lines.join(' | ')})`,
    )
    t.same(await child.stop('SIGINT', 1000), stops[0], 'and it stays stopped')
  },
)

t.test('when dev dies without a word (SIGKILL), its process stops too', async t => {
  const { dir } = harness(t)
  // A stand-in for dev: starts the entry and prints its pid.
  writeFileSync(
    join(dir, 'dev.mts'),
    `
import { DevChild } from ${JSON.stringify(new URL('../../scripts/dev/dev-child.ts', import.meta.url).pathname)}
const child = new DevChild({
  name: 'stub', entry: 'src/entry.ts', cwd: ${JSON.stringify(dir)}, env: process.env, watch: [],
  onLine: (line) => process.stdout.write(line + '\\n'), onUnexpectedStop: () => {}, onRestart: () => {},
})
child.start()
`,
  )
  const dev = spawn(process.execPath, [join(dir, 'dev.mts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  dev.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  await eventually(async () => /started \d+/.test(output), 20_000, 'the process started')
  const pid = Number(/started (\d+)/.exec(output)![1])
  dev.kill('SIGKILL')
  await eventually(async () => !alive(pid), 20_000, 'the orphan stopping')
  t.pass(`process ${pid} stopped with dev`)
})

/** Running (not gone, and not a zombie waiting for a reaper). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
