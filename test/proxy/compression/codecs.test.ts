// One-shot coding sizes its window and output buffer to the body: whatever the size, and however many output
// buffers the coded body spans (incompressible bytes code larger than they were), it decodes to the same bytes.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib'
import { encodeSync } from '../../../proxy/compression/codecs.ts'
import { ENCODINGS, type Encoding } from '../../../proxy/compression/negotiation.ts'

const DECODE: Record<Encoding, (body: Buffer) => Buffer> = {
  gzip: gunzipSync,
  br: brotliDecompressSync,
  zstd: zstdDecompressSync,
}

const json = (bytes: number): Buffer =>
  Buffer.from(JSON.stringify({ items: Array.from({ length: Math.ceil(bytes / 40) }, (_, id) => ({ id, x: 'ab' })) }))

t.test('every coding round-trips bodies from 1 kB to 300 kB, compressible or not', async t => {
  const bodies: Array<[string, Buffer]> = [
    ['1 kB of JSON', json(1024)],
    ['5 kB of JSON', json(5000)],
    ['300 kB of JSON', json(300_000)],
    ['5 kB of random bytes', randomBytes(5000)],
    ['100 kB of random bytes', randomBytes(100_000)],
  ]
  for (const encoding of ENCODINGS) {
    for (const [what, body] of bodies) {
      const coded = encodeSync(encoding, body, 1)
      t.same(DECODE[encoding](coded), body, `${encoding}, ${what}`)
    }
  }
})
