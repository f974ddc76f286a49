// readUpTo over real streams: a body within the bound comes whole; one past it comes as one stream of every
// byte, and what the source has not sent yet is read only as that stream is (no buffering past the bound).
import { PassThrough, Readable } from 'node:stream'
import t from 'tap'
import { readUpTo } from '../../../proxy/cache/bounded-body.ts'

type Outcome = { whole: Buffer } | { tooLarge: Buffer | Readable } | { failed: Error }

const read = async (source: Buffer | Readable, maxBytes: number): Promise<Outcome> =>
  new Promise(resolve => {
    readUpTo(source, maxBytes, {
      whole: body => resolve({ whole: body }),
      tooLarge: body => resolve({ tooLarge: body }),
      failed: error => resolve({ failed: error }),
    })
  })

t.test('a body forwarding read whole already: kept within the bound, handed on as it is past it', async t => {
  t.same(await read(Buffer.from('abcdef'), 6), { whole: Buffer.from('abcdef') })
  const large = Buffer.from('abcdefg')
  const outcome = await read(large, 6)
  t.equal((outcome as { tooLarge: Buffer }).tooLarge, large)
})

t.test('within the bound: the whole body at once', async t => {
  const outcome = await read(Readable.from([Buffer.from('abc'), Buffer.from('def')]), 6)
  t.same(outcome, { whole: Buffer.from('abcdef') })
})

t.test('past the bound: one stream of all of it, the rest read only as that stream is', async t => {
  const source = new PassThrough({ highWaterMark: 16 })
  source.write('0123456789')
  source.write('abcdefghij')
  const outcome = await read(source, 15)
  if (!('tooLarge' in outcome)) throw new Error(`expected tooLarge, got ${Object.keys(outcome).join()}`)
  // Nobody reads the handed-on stream: the source fills up and says so to its writer (backpressure).
  let written = 0
  while (source.write(Buffer.alloc(1024, 'x'))) {
    written += 1024
    if (written > 1024 * 1024) break
  }
  t.ok(written < 1024 * 1024, `the source stopped taking writes after ${written} bytes`)
  source.end('!')
  const body = Buffer.concat((await (outcome.tooLarge as Readable).toArray()) as Buffer[]).toString()
  t.equal(body.slice(0, 20), '0123456789abcdefghij', 'what was held before the bound comes first')
  t.equal(body.length, 20 + written + 1024 + 1, 'then every byte after it')
  t.ok(body.endsWith('x!'))
})

t.test('a source that fails before the bound: failed, with its error', async t => {
  const source = new PassThrough()
  const outcome = read(source, 100)
  source.write('abc')
  source.destroy(new Error('upstream reset'))
  t.match(await outcome, { failed: { message: 'upstream reset' } })
})

t.test('a whole-body handler that throws or rejects is reported as a failure, not left unhandled', async t => {
  for (const whole of [
    () => {
      throw new Error('sync')
    },
    async () => {
      throw new Error('async')
    },
  ]) {
    const failed = await new Promise<Error>(resolve => {
      readUpTo(Readable.from([Buffer.from('abc')]), 6, { whole, tooLarge: () => {}, failed: resolve })
    })
    t.match(failed.message, /^(sync|async)$/)
  }
})
