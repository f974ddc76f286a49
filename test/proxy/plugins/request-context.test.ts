// Trace context the edge makes: valid W3C traceparents whose ids never repeat, also across the batches the
// random bytes are drawn in.
import t from 'tap'
import { continueTrace, randomHex } from '../../../proxy/plugins/request-context.ts'

t.test('new traces: well-formed, and no trace or span id is ever handed out twice', async t => {
  const traces = new Set<string>()
  const spans = new Set<string>()
  // 24 random bytes per call: 2000 calls go through a dozen refills of the 4 KiB batch.
  for (let index = 0; index < 2000; index++) {
    const traceparent = continueTrace(undefined)
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(traceparent)
    if (match === null) return t.fail(`malformed: ${traceparent}`)
    traces.add(match[1]!)
    spans.add(match[2]!)
  }
  t.equal(traces.size, 2000, 'every trace id is new')
  t.equal(spans.size, 2000, 'every span id is new')
})

t.test(
  "a caller's trace continues with a new span of ours; an all-zero or malformed one starts a new trace",
  async t => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const continued = continueTrace(`00-${traceId}-00f067aa0ba902b7-00`).split('-')
    t.equal(continued[1], traceId)
    t.not(continued[2], '00f067aa0ba902b7')
    t.equal(continued[3], '00', "the caller's sampling decision is kept")
    t.not(continueTrace(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`).split('-')[1], '0'.repeat(32))
    t.match(continueTrace('garbage'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  },
)

t.test('randomHex: the asked number of bytes, never the same bytes twice across a batch boundary', async t => {
  const seen = new Set<string>()
  for (let index = 0; index < 1000; index++) {
    const hex = randomHex(7) // 7 does not divide 4096: calls straddle the end of each batch
    t.equal(hex.length, 14)
    seen.add(hex)
  }
  t.equal(seen.size, 1000)
})
