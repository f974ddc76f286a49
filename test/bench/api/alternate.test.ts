// The alternating before/after's command line: two commits at least, known scenarios, whole numbers.
import t from 'tap'
import { parseAlternateArgs, UsageError } from '../../../bench/api/alternate.ts'

t.test('two commits and the defaults', async t => {
  t.same(parseAlternateArgs(['HEAD~1', '.']), {
    refs: ['HEAD~1', '.'],
    scenarios: ['list', 'get', 'create', 'update', 'graphql'],
    rounds: 40,
    batch: 100,
    concurrency: 16,
  })
  t.match(parseAlternateArgs(['a', 'b', 'c', '--scenarios', 'graphql,get', '--rounds', '60']), {
    refs: ['a', 'b', 'c'],
    scenarios: ['graphql', 'get'],
    rounds: 60,
  })
})

t.test('what it refuses, and says why', async t => {
  t.throws(
    () => parseAlternateArgs(['HEAD']),
    new UsageError('name two or more commits to compare (`.` is the working tree)'),
  )
  t.throws(() => parseAlternateArgs(['a', 'b', '--scenarios', 'list,delete']), {
    message: /--scenarios: delete \(known: list,/,
  })
  t.throws(() => parseAlternateArgs(['a', 'b', '--rounds', '0']), {
    message: '--rounds: a whole number above 0, not "0"',
  })
  t.throws(() => parseAlternateArgs(['a', 'b', '--batch', '1.5']), { message: /--batch/ })
  t.throws(() => parseAlternateArgs(['a', 'b', '--sideways']), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' })
})
