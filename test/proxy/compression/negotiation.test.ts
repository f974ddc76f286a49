// Content-coding negotiation against RFC 9110 §12.5.3, as a table: q-values, identity, `*`, refusals, ties.
import t from 'tap'
import {
  cachedNegotiator,
  negotiate,
  parseAcceptEncoding,
  type Coding,
  type Encoding,
} from '../../../proxy/compression/negotiation.ts'

const ALL: Encoding[] = ['zstd', 'br', 'gzip']

const CASES: Array<[string | undefined, Encoding[], Coding, string]> = [
  [undefined, ALL, 'identity', 'no field: the client did not ask, nothing is coded'],
  ['', ALL, 'identity', 'an empty field asks for no coding'],
  ['gzip', ALL, 'gzip', 'the one coding named'],
  ['gzip, deflate, br', ALL, 'br', "equal weights: the server's order decides"],
  ['gzip, deflate, br, zstd', ALL, 'zstd', "a browser's list"],
  ['gzip, deflate, br, zstd', ['gzip', 'br'], 'gzip', "the server's own order, when configured"],
  ['br;q=0.5, gzip;q=0.8', ALL, 'gzip', "the higher weight wins over the server's order"],
  ['br;q=0.5, gzip;q=0.8, zstd;q=0.8', ALL, 'zstd', "a tie between the highest weights goes to the server's order"],
  ['GZIP;Q=0.5', ALL, 'gzip', 'names and the q parameter are case-insensitive'],
  ['x-gzip', ALL, 'gzip', 'x-gzip is gzip'],
  ['gzip;q=0', ALL, 'identity', 'q=0 refuses the coding'],
  ['*', ALL, 'zstd', '* accepts every coding'],
  ['*;q=0.5, gzip', ALL, 'gzip', 'a named coding outweighs *'],
  ['*, br;q=0', ALL, 'zstd', 'a coding refused by name stays refused under *'],
  ['*;q=0', ALL, 'identity', '* with q=0 refuses all codings'],
  ['*;q=0, identity;q=0', ALL, 'identity', 'nothing acceptable at all: sent uncoded anyway (the field is disregarded)'],
  ['identity', ALL, 'identity', 'identity alone'],
  ['identity;q=1, gzip;q=0.5', ALL, 'identity', 'identity weighed above the coding'],
  ['identity;q=0.5, gzip;q=0.5', ALL, 'gzip', 'a tie with identity goes to the coding'],
  ['identity;q=0, gzip', ALL, 'gzip', 'identity refused, gzip taken'],
  ['deflate, compress', ALL, 'identity', 'only codings the edge does not offer'],
  ['gzip;q=2', ALL, 'identity', 'an invalid weight makes its member unreadable, not heavier'],
  ['gzip;q=0.0001', ALL, 'identity', 'more than three decimals is invalid too'],
  ['gzip;level=9;q=0.3, br;q=0.2', ALL, 'gzip', 'other parameters are ignored'],
  [' , gzip ,, ', ALL, 'gzip', 'empty members are skipped'],
  ['gzip', [], 'identity', 'nothing offered (compression off)'],
]

t.test('negotiate', async t => {
  for (const [header, offered, expected, why] of CASES) {
    t.equal(negotiate(header, offered), expected, `${JSON.stringify(header)} of [${offered.join(',')}]: ${why}`)
  }
})

t.test('parseAcceptEncoding keeps the highest weight of a repeated coding', async t => {
  const { weights, star } = parseAcceptEncoding('gzip;q=0.2, gzip;q=0.7, *;q=0.1')
  t.equal(weights.get('gzip'), 0.7)
  t.equal(star, 0.1)
})

t.test('the remembering negotiator answers as negotiate does, and stays bounded', async t => {
  const remembered = cachedNegotiator(ALL, 4)
  for (const [header, offered, expected] of CASES) if (offered === ALL) t.equal(remembered(header), expected)
})
