// The Dockerfile's structure, since no Docker engine runs here: a build stage that installs, generates the
// Prisma client and compiles; a runtime stage with production dependencies only, non-root, with tini, a
// health check and the API as default command; nothing secret copied in. And the health check script
// itself, run against real sockets.
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { readText, readYaml, repoPath } from '../ops/ops-helpers.ts'

interface Instruction {
  keyword: string
  args: string
}
interface Stage {
  name: string
  from: string
  instructions: Instruction[]
}

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
  const args: Record<string, string> = {}
  const stages: Stage[] = []
  for (const line of lines) {
    const [, keyword, rest] = /^(\w+)\s+(.*)$/.exec(line)!
    const instruction = { keyword: keyword!.toUpperCase(), args: rest!.trim() }
    if (instruction.keyword === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args)!
      stages.push({ name: name ?? String(stages.length), from: from!, instructions: [] })
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name, value] = instruction.args.split('=')
      args[name!] = value ?? ''
    } else {
      stages.at(-1)!.instructions.push(instruction)
    }
  }
  return { args, stages }
}

const { args, stages } = parseDockerfile(readText('Dockerfile'))
const stage = (name: string): Stage => stages.find(entry => entry.name === name)!
const all = (from: Stage, keyword: string): string[] =>
  from.instructions.filter(entry => entry.keyword === keyword).map(entry => entry.args)
const runtime = stages.at(-1)!

t.test('stages: build, production dependencies, runtime on one pinned base image', async t => {
  t.same(
    stages.map(entry => entry.name),
    ['build', 'prod-deps', 'runtime'],
  )
  t.match(
    args.NODE_IMAGE,
    /^node:24\.\d+\.\d+-bookworm-slim$/,
    'node 24 LTS (package.json engines), pinned to a patch release, slim',
  )
  for (const entry of stages) t.equal(entry.from, '${NODE_IMAGE}')
})

t.test('build: npm ci, prisma generate, npm run build, over every folder the build compiles', async t => {
  const runs = all(stage('build'), 'RUN').join(' && ')
  t.match(runs, /npm ci\b/)
  t.match(runs, /npm run db:generate/)
  t.match(readYaml('package.json').scripts['db:generate'], /prisma generate/)
  t.match(runs, /npm run build/)
  const copied = all(stage('build'), 'COPY').flatMap(entry => entry.split(/\s+/).slice(0, -1))
  for (const folder of readYaml('tsconfig.build.json').include as string[]) {
    t.ok(copied.includes(folder), `${folder} (in tsconfig.build.json) is copied before the build`)
  }
  t.ok(copied.includes('prisma') && copied.includes('prisma.config.ts'), 'the Prisma schema and config for generate')
})

t.test(
  'runtime: production dependencies only, dist and migrations, non-root, tini, health check, API by default',
  async t => {
    t.match(all(stage('prod-deps'), 'RUN').join(' '), /npm ci --omit=dev/)
    const copies = all(runtime, 'COPY')
    t.ok(
      copies.includes('--from=prod-deps /app/node_modules ./node_modules'),
      'node_modules from the production-only stage',
    )
    t.notOk(
      copies.some(entry => entry.startsWith('--from=build') && entry.includes('node_modules')),
      "never the build stage's dev dependencies",
    )
    t.ok(copies.includes('--from=build /app/dist ./dist'), 'the compiled code, which holds the generated Prisma client')
    t.match(
      readText('prisma/schema.prisma'),
      /output\s*=\s*"\.\.\/server\/db\/generated"/,
      'the client is generated under server/, so tsc compiles it into dist/',
    )
    t.ok(copies.includes('prisma/migrations ./prisma/migrations'), 'migrations for dist/scripts/db-migrate.js')

    const users = all(runtime, 'USER')
    t.equal(users.length, 1)
    t.notMatch(users[0], /^(root|0)(:|$)/, 'runs as a non-root user')
    t.ok(
      runtime.instructions.findIndex(entry => entry.keyword === 'USER') >
        runtime.instructions.findIndex(entry => entry.keyword === 'RUN'),
      'USER comes after the root-only setup',
    )

    t.same(all(runtime, 'ENTRYPOINT'), ['["/usr/bin/tini", "--"]'], 'tini is PID 1 and forwards signals to node')
    t.match(all(runtime, 'RUN').join(' '), /apt-get install -y --no-install-recommends tini/)
    t.same(
      all(runtime, 'CMD'),
      ['["node", "dist/server/main.js"]'],
      'the API by default; the proxy and migration by command',
    )
    t.match(all(runtime, 'HEALTHCHECK')[0], /--interval=\d+s .*CMD \["node", "ops\/docker\/healthcheck\.mjs"\]/)
    t.ok(
      copies.includes('ops/docker/healthcheck.mjs ./ops/docker/healthcheck.mjs'),
      'the health check script is in the image',
    )
  },
)

t.test(
  'no secrets: nothing from .env or .data copied, no secret-looking ENV or ARG, the context excludes them',
  async t => {
    for (const entry of stages) {
      for (const copy of [...all(entry, 'COPY'), ...all(entry, 'ADD')]) {
        for (const source of copy.split(/\s+/).slice(0, -1)) {
          t.notMatch(source, /^\.\/?$|\.env|\.data|\.pem$|\.key$|htpasswd/, `${entry.name}: COPY ${source}`)
        }
      }
      for (const env of [...all(entry, 'ENV'), ...all(entry, 'ARG')]) {
        t.notMatch(env, /SECRET|PASSWORD|TOKEN|_URL/i, `${entry.name}: ${env}`)
      }
    }
    t.equal(all(runtime, 'ADD').length, 0)
    const ignored = readText('.dockerignore')
      .split('\n')
      .map(line => line.trim())
    for (const pattern of ['.git', '.env', '.data', 'node_modules', 'test', 'dist', 'server/db/generated']) {
      t.ok(ignored.includes(pattern), `.dockerignore: ${pattern}`)
    }
    // Everything the Dockerfile copies from the context is still in it.
    for (const copy of stages.flatMap(entry => all(entry, 'COPY')).filter(entry => !entry.startsWith('--from'))) {
      for (const source of copy.split(/\s+/).slice(0, -1)) {
        t.notOk(ignored.includes(source), `${source} is not excluded from the context`)
      }
    }
  },
)

t.test('the health check script: 0 when every URL answers 200, 1 otherwise', async t => {
  const server = createServer((request, response) => {
    response.statusCode = request.url === '/health' ? 200 : 503
    response.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // Asynchronously: the servers answering live in this process.
  const check = async (
    urls: string[],
    env: Record<string, string> = {},
  ): Promise<{ status: number; stderr: string }> => {
    try {
      await promisify(execFile)(process.execPath, [repoPath('ops/docker/healthcheck.mjs'), ...urls], {
        timeout: 10_000,
        env: { PATH: process.env.PATH, ...env },
      })
      return { status: 0, stderr: '' }
    } catch (error) {
      return { status: (error as { code: number }).code, stderr: (error as { stderr: string }).stderr }
    }
  }
  t.equal((await check([`${base}/health`])).status, 0)
  const notReady = await check([`${base}/health`, `${base}/ready`])
  t.equal(notReady.status, 1)
  t.match(notReady.stderr, /\/ready: 503/)
  const closed = createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => resolve()))
  t.equal((await check([`http://127.0.0.1:${port}/health`])).status, 1, 'nothing listening')
  // Without URLs (outside a container PID 1 is not our node): the API's /health on PORT.
  const byPort = await check([], { PORT: String((server.address() as AddressInfo).port) })
  t.equal(byPort.status, 0, byPort.stderr)
})
