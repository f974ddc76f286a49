// The one problem catalogue (common/problem.ts): codes unique, statuses real, Fastify's codes at Fastify's statuses,
// one title per type, every type documented in docs/problems.md as it is, no code spelt outside it, and what
// sendProblem renders.
import { readdirSync, readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { join } from 'node:path'
import Fastify, { errorCodes } from 'fastify'
import t from 'tap'
import { Errors, PROBLEMS, problemOf, sendProblem } from '../../common/problem.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const problems = Object.values(PROBLEMS)

t.test('codes are unique, statuses are error statuses HTTP defines, slugs are kebab-case', async t => {
  const codes = problems.map(problem => problem.code)
  t.same([...new Set(codes)], codes, 'no code twice')
  for (const problem of problems) {
    t.match(problem.code, /^(GH|FST)_[A-Z0-9_]+$/, `${problem.code} is a GH_ or Fastify code`)
    const defined = problem.status >= 400 && problem.status < 600 && STATUS_CODES[problem.status] !== undefined
    t.ok(defined, `${problem.code}: ${problem.status}`)
    t.match(problem.slug, /^[a-z]+(-[a-z]+)*$/, `${problem.code}: slug ${problem.slug}`)
    t.ok(problem.title.length > 0 && problem.title.length <= 60, `${problem.code}: a short title`)
  }
})

t.test('codes that share a type share its title and status (RFC 9457 §3.1.3)', async t => {
  const bySlug = new Map<string, { title: string; status: number }>()
  for (const problem of problems) {
    const first = bySlug.get(problem.slug)
    if (first === undefined) bySlug.set(problem.slug, problem)
    else t.same([problem.title, problem.status], [first.title, first.status], problem.code)
  }
})

t.test("Fastify's codes are listed at the status Fastify raises them with", async t => {
  const fastifyCodes = errorCodes as unknown as Record<string, new () => { statusCode: number }>
  for (const problem of problems.filter(entry => entry.code.startsWith('FST_'))) {
    t.ok(fastifyCodes[problem.code] !== undefined, `${problem.code} is Fastify's`)
    t.equal(new fastifyCodes[problem.code]!().statusCode, problem.status, problem.code)
  }
})

t.test('each problem throws as an error with its code and status', async t => {
  for (const [name, problem] of Object.entries(PROBLEMS)) {
    const Thrown = Errors[name as keyof typeof Errors] as new (
      ...args: string[]
    ) => Error & { code: string; statusCode: number }
    const error = new Thrown('x', 'y')
    t.equal(error.code, problem.code, name)
    t.equal(error.statusCode, problem.status, name)
  }
  t.equal(new Errors.NotFound('Project').message, 'Project not found')
  t.ok(new Errors.NotFound('Task') instanceof Errors.NotFound)
})

t.test('docs/problems.md documents every type exactly as the catalogue has it', async t => {
  const rows = readFileSync(join(ROOT, 'docs', 'problems.md'), 'utf8')
    .split('\n')
    .filter(line => /^\| `[a-z-]+` \|/.test(line))
    .map(line => line.split(' | ').map(cell => cell.replace(/^\| /, '').trim()))
  const documented = new Map(
    rows.map(([slug, status, codes, title]) => [
      slug!.replaceAll('`', ''),
      {
        status: Number(status),
        codes: codes!
          .split(', ')
          .map(code => code.replaceAll('`', ''))
          .sort(),
        title,
      },
    ]),
  )
  const catalogue = new Map<string, { status: number; codes: string[]; title: string }>()
  for (const problem of problems) {
    const entry = catalogue.get(problem.slug) ?? { status: problem.status, codes: [], title: problem.title }
    entry.codes.push(problem.code)
    entry.codes.sort()
    catalogue.set(problem.slug, entry)
  }
  t.same([...documented.keys()].sort(), [...catalogue.keys()].sort(), 'the same types, none missing, none extra')
  for (const [slug, entry] of catalogue) t.same(documented.get(slug), entry, slug)
})

t.test('no problem code is spelt outside the catalogue', async t => {
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter(file => file.endsWith('.ts') && !file.includes('generated'))
      .map(file => join(dir, file))
  const codes = new Set<string>(problems.map(problem => problem.code))
  for (const file of [...sources('server'), ...sources('proxy'), ...sources('common')]) {
    if (file === join('common', 'problem.ts')) continue
    const spelt = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/['"`]((?:GH|FST)_[A-Z0-9_]+)['"`]/g)]
      .map(match => match[1]!)
      .filter(code => codes.has(code))
    t.same(spelt, [], `${file} refers to the catalogue instead`)
  }
})

t.test('sendProblem renders problem+json with the request, and the Retry-After its problem asks for', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/busy', (request, reply) => sendProblem(request, reply, PROBLEMS.BodyBufferFull))
  app.get('/limited', (request, reply) =>
    sendProblem(request, reply.header('retry-after', '42'), PROBLEMS.RateLimited, 'slow down'),
  )
  app.get('/framework', (request, reply) =>
    sendProblem(request, reply, problemOf('FST_SOMETHING_NEW', 422), 'what it said'),
  )
  const busy = await app.inject('/busy')
  t.equal(busy.statusCode, 503)
  t.match(busy.headers['content-type'], /^application\/problem\+json/)
  t.equal(busy.headers['retry-after'], '1')
  t.same(busy.json(), {
    type: 'urn:gatehouse:problem:edge-busy',
    title: 'Service busy',
    status: 503,
    code: 'GH_EDGE_BUSY',
    detail: PROBLEMS.BodyBufferFull.message,
    instance: '/busy',
    requestId: busy.json().requestId,
  })
  const limited = await app.inject('/limited')
  t.equal(limited.headers['retry-after'], '42', 'a Retry-After already set is kept')
  t.match(limited.json(), { type: 'urn:gatehouse:problem:rate-limited', status: 429, detail: 'slow down' })
  const framework = await app.inject('/framework')
  t.equal(framework.statusCode, 422)
  t.match(framework.json(), { type: 'urn:gatehouse:problem:bad-request', code: 'FST_SOMETHING_NEW', status: 422 })
})
