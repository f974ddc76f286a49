// npm run audit:deps: high and critical advisories fail the gate, lower ones are listed, and an audit that could
// not be made (the registry refused the advisory endpoint) is "unknown" (69), never "clean".
import { join } from 'node:path'
import t from 'tap'
import { runScript } from './run-script.ts'

const fixture = (name: string): string => new URL(`fixtures/audit-${name}.json`, import.meta.url).pathname

t.test('a clean report passes', async t => {
  const result = await runScript('audit-deps', ['--from', fixture('clean')], {})
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /0 vulnerable package\(s\); 0 high or critical/)
})

t.test('a moderate advisory is listed with its link but does not fail', async t => {
  const result = await runScript('audit-deps', ['--from', fixture('moderate')], {})
  t.equal(result.code, 0, result.stderr)
  t.match(
    result.stdout,
    /moderate\s+example-lib: Prototype pollution in example-lib https:\/\/github.com\/advisories\/GHSA-xxxx-yyyy-zzzz/,
  )
})

t.test('a high advisory fails, naming the package and the one it comes through', async t => {
  const result = await runScript('audit-deps', ['--from', fixture('high')], {})
  t.equal(result.code, 1)
  t.match(result.stdout, /high\s+parser-lib: ReDoS in parser-lib/)
  t.match(result.stdout, /high\s+wrapper-lib: via parser-lib/)
  t.match(result.stdout, /2 high or critical/)
})

t.test('a refused advisory endpoint is reported as no audit, exit 69', async t => {
  const result = await runScript('audit-deps', ['--from', fixture('unavailable')], {})
  t.equal(result.code, 69)
  t.match(result.stderr, /no audit could be made: 405 Method Not Allowed/)
})

t.test('npm that cannot run at all is no audit either, exit 69, not a failed gate', async t => {
  // No npm on the PATH: the script itself runs under this node, its audit command cannot start.
  const result = await runScript('audit-deps', [], { PATH: t.testdir() })
  t.equal(result.code, 69, result.stderr)
  t.match(result.stderr, /no audit could be made: npm audit printed nothing: .*ENOENT/)
})

t.test('bad usage and unreadable reports exit 64 with a message', async t => {
  const garbage = join(t.testdir({ 'garbage.json': 'not json' }), 'garbage.json')
  const notJson = await runScript('audit-deps', ['--from', garbage], {})
  t.equal(notJson.code, 64)
  t.match(notJson.stderr, /not JSON/)
  const usage = await runScript('audit-deps', ['--from'], {})
  t.equal(usage.code, 64)
  t.match(usage.stderr, /usage: npm run audit:deps/)
})
