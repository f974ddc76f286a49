// Micro-benchmarks behind compression's defaults (README, "Compression"): one-shot compression of the
// edge-overhead section's 20-project page at a few levels of each coding, and the cost per response of our onSend
// hook against @fastify/compress's in one Fastify app. Run: node bench/compression-levels.ts
import compress from '@fastify/compress'
import Fastify, { type FastifyInstance } from 'fastify'
import { resolve } from 'node:path'
import { PROJECT_PAGE } from './trivial-upstream.ts'
import { encodeSync } from '../proxy/compression/codecs.ts'
import type { Encoding } from '../proxy/compression/negotiation.ts'
import responseCompression from '../proxy/plugins/response-compression.ts'

const LEVELS: Array<[Encoding, number[]]> = [
  ['gzip', [1, 4, 6]],
  ['br', [1, 2, 4, 5]],
  ['zstd', [1, 3, 6]],
]

export interface LevelRow {
  encoding: string
  level: number
  bytes: number
  microseconds: number
}

/** CPU time (user + system) since `started`, in µs: steadier than wall time on a machine shared with other work. */
const cpuMicroseconds = (started: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(started)
  return used.user + used.system
}

/**
 * Median CPU µs per compression over `rounds` batches of `iterations`, the rows interleaved round by round (so a
 * machine that slows down or speeds up weighs on every row alike), after one uncounted round.
 */
export function measureLevels(body: Buffer, iterations = 1000, rounds = 7): LevelRow[] {
  const cases = LEVELS.flatMap(([encoding, levels]) => levels.map(level => ({ encoding, level })))
  const times = cases.map(() => [] as number[])
  for (let round = 0; round <= rounds; round++) {
    for (const [index, { encoding, level }] of cases.entries()) {
      const started = process.cpuUsage()
      // As the proxy codes a body in memory (its window sized to the body, zstd told its size).
      for (let iteration = 0; iteration < iterations; iteration++) encodeSync(encoding, body, level)
      if (round > 0) times[index]!.push(cpuMicroseconds(started) / iterations)
    }
  }
  return cases.map(({ encoding, level }, index) => ({
    encoding,
    level,
    bytes: encodeSync(encoding, body, level).length,
    microseconds: times[index]!.sort((a, b) => a - b)[Math.floor(rounds / 2)]!,
  }))
}

/** CPU µs per injected GET of the page with Accept-Encoding: gzip (level 1), whole requests: compare the rows. */
export async function measureHooks(requests = 3000): Promise<Array<{ hook: string; microseconds: number }>> {
  const apps: Array<[string, (app: FastifyInstance) => Promise<void>]> = [
    ['none', async () => {}],
    [
      '@fastify/compress',
      async app => {
        await app.register(compress, { encodings: ['gzip'], threshold: 1024, zlibOptions: { level: 1 } })
      },
    ],
    [
      'ours (proxy/plugins/response-compression.ts)',
      async app => {
        await app.register(responseCompression, {
          enabled: true,
          encodings: ['gzip'],
          levels: { gzip: 1, br: 1, zstd: 1 },
          minBytes: 1024,
        })
      },
    ],
  ]
  const rows = []
  for (const [hook, register] of apps) {
    const app = Fastify()
    await register(app)
    app.get('/', (_request, reply) => {
      reply.type('application/json').send(PROJECT_PAGE)
    })
    await app.ready()
    const send = async (): Promise<void> => {
      const response = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip' } })
      if (response.statusCode !== 200) throw new Error(`${hook}: ${response.statusCode}`)
    }
    for (let index = 0; index < 500; index++) await send()
    const started = process.cpuUsage()
    for (let index = 0; index < requests; index++) await send()
    rows.push({ hook, microseconds: cpuMicroseconds(started) / requests })
    await app.close()
  }
  return rows
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  process.stdout.write(`identity: ${PROJECT_PAGE.length} bytes\n`)
  process.stdout.write('| encoding | level | bytes | CPU µs per body |\n| --- | --- | --- | --- |\n')
  for (const row of measureLevels(PROJECT_PAGE)) {
    process.stdout.write(`| ${row.encoding} | ${row.level} | ${row.bytes} | ${row.microseconds.toFixed(1)} |\n`)
  }
  process.stdout.write('\n| onSend hook, gzip level 1 | CPU µs per injected request |\n| --- | --- |\n')
  for (const row of await measureHooks()) process.stdout.write(`| ${row.hook} | ${row.microseconds.toFixed(1)} |\n`)
}
