// A micro-benchmark of one-shot compression of the edge-overhead section's 20-project page at a few levels of
// each encoding, to choose the proxy's default levels (see README, "Compression"): npx tsx bench/compression-levels.ts
import { resolve } from 'node:path'
import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from 'node:zlib'
import { PROJECT_PAGE } from './trivial-upstream.js'

type Compress = (body: Buffer, level: number) => Buffer
const ENCODERS: Array<[string, Compress, number[]]> = [
  ['gzip', (body, level) => gzipSync(body, { level }), [1, 4, 6]],
  ['br', (body, level) => brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: level, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  }), [1, 2, 4, 5]],
  ['zstd', (body, level) => zstdCompressSync(body, {
    params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_contentSizeFlag]: 1 },
  }), [1, 3, 6]],
]

export interface LevelRow { encoding: string, level: number, bytes: number, microseconds: number }

/** Median µs per compression over `rounds` batches of `iterations`, after one warm-up batch. */
export function measureLevels (body: Buffer, iterations = 2000, rounds = 5): LevelRow[] {
  const rows: LevelRow[] = []
  for (const [encoding, compress, levels] of ENCODERS) {
    for (const level of levels) {
      const batch = (): number => {
        const started = process.hrtime.bigint()
        for (let index = 0; index < iterations; index++) compress(body, level)
        return Number(process.hrtime.bigint() - started) / 1000 / iterations
      }
      batch()
      const times = Array.from({ length: rounds }, batch).sort((a, b) => a - b)
      rows.push({ encoding, level, bytes: compress(body, level).length, microseconds: times[Math.floor(rounds / 2)]! })
    }
  }
  return rows
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  process.stdout.write(`identity: ${PROJECT_PAGE.length} bytes\n| encoding | level | bytes | µs per body |\n| --- | --- | --- | --- |\n`)
  for (const row of measureLevels(PROJECT_PAGE)) {
    process.stdout.write(`| ${row.encoding} | ${row.level} | ${row.bytes} | ${row.microseconds.toFixed(1)} |\n`)
  }
}
