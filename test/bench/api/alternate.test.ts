// The alternating before/after's command line: two commits at least, known scenarios, whole numbers; and the
// project's exit statuses for bad usage and bad settings.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { parseAlternateArgs } from '../../../bench/api/alternate.ts'
import { UsageError } from '../../../scripts/cli.ts'

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

t.test('as a command: bad usage exits 64 and a bad setting 78, both said before anything is built', async t => {
  const script = join(import.meta.dirname, '../../../bench/api/alternate.ts')
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [script, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
  const alone = run(['HEAD'])
  t.equal(alone.status, 64)
  t.equal(alone.stderr, 'bench:api:alternate: name two or more commits to compare (`.` is the working tree)\n')
  const unknown = run(['a', 'b', '--sideways'])
  t.equal(unknown.status, 64)
  t.match(unknown.stderr, /^bench:api:alternate: .*--sideways/)
  const badUrl = run(['a', 'b'], { BENCH_POSTGRES_URL: 'mysql://nobody' })
  t.equal(badUrl.status, 78)
  t.match(badUrl.stderr, /BENCH_POSTGRES_URL/)
  t.notMatch(badUrl.stderr, /compiling/)
})
