// Fluent Bit has no binary here, so its configuration is checked against what it must do: the YAML parses
// into the documented sections; the parser the pipeline uses (JSON, time key and format) accepts the lines
// our real API and proxy write through common/logger.ts — produced here by running them with that logger
// and sending requests that carry credentials — and those lines never hold an Authorization, cookie,
// Proxy-Authorization or identity signature value. The output ships over verified TLS with a bounded disk buffer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { loggerOptions } from '../../common/logger.ts'
import { buildProxyApp } from '../../proxy/app.ts'
import { loadProxyConfig } from '../../proxy/config.ts'
import { hashPassword } from '../../proxy/auth/htpasswd-file.ts'
import { ensureLocalCertificate } from '../../proxy/tls/local-ca.ts'
import { buildApp } from '../../server/app.ts'
import { forEachBackend } from '../helpers/backends.ts'
import { TEST_IDENTITY_SECRET, callerFor, testConfig } from '../helpers/build-app.ts'
import { readText, readYaml } from './ops-helpers.ts'

type Entry = Record<string, string | number | boolean>
interface FluentBit {
  service: Entry
  parsers: Entry[]
  pipeline: { inputs: Entry[]; filters: Entry[]; outputs: Entry[] }
}
const config = readYaml<FluentBit>('ops/fluent-bit/fluent-bit.yaml')

// Fluent Bit's strptime directives used by our parser, as patterns.
const DIRECTIVES: Record<string, string> = {
  Y: '\\d{4}',
  m: '\\d{2}',
  d: '\\d{2}',
  H: '\\d{2}',
  M: '\\d{2}',
  S: '\\d{2}',
  L: '\\d+',
  z: '(?:Z|[+-]\\d{2}:?\\d{2})',
}
const timeFormatPattern = (format: string): RegExp =>
  new RegExp(
    '^' +
      format.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&').replace(/%([A-Za-z])/g, (_, directive: string) => {
        if (!(directive in DIRECTIVES)) throw new Error(`unhandled strptime directive %${directive}`)
        return DIRECTIVES[directive]!
      }),
  )

const lineCollector = (): { lines: string[]; stream: Writable } => {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  return { lines, stream }
}

t.test('the YAML has the sections and settings the pipeline needs', async t => {
  t.same(Object.keys(config).sort(), ['parsers', 'pipeline', 'service'])
  const [input] = config.pipeline.inputs
  t.equal(input!.name, 'forward')
  t.equal(input!['storage.type'], 'filesystem', 'input chunks buffered on disk')
  t.match(config.service['storage.path'], /^\/var\/fluent-bit\//)

  const [output, ...others] = config.pipeline.outputs
  t.equal(others.length, 0)
  t.match(output, { name: 'http', host: 'example.com', port: 443, format: 'json_lines', retry_limit: 'no_limits' })
  // Fluent Bit reads on/true as enabled; YAML 1.2 (and this test) keeps "on" as text.
  t.match(String(output!.tls), /^(on|true)$/, 'TLS')
  t.match(String(output!['tls.verify']), /^(on|true)$/, 'certificate verified')
  t.match(output!['storage.total_limit_size'], /^\d+[KMG]$/, 'the disk buffer is bounded')
  t.match(output!.header, /^Authorization Bearer \$\{LOG_SHIPPING_TOKEN\}$/, 'the token comes from the environment')

  const compose = readYaml('compose.yaml').services['fluent-bit']
  for (const name of readText('ops/fluent-bit/fluent-bit.yaml')
    .replace(/#.*$/gm, '')
    .matchAll(/\$\{(\w+)\}/g)) {
    t.ok(name[1]! in compose.environment, `compose gives Fluent Bit ${name[1]}`)
  }
  t.ok(compose.volumes.includes('./ops/fluent-bit/fluent-bit.yaml:/fluent-bit/etc/fluent-bit.yaml:ro'))
  t.ok(
    compose.volumes.some((volume: string) => volume.endsWith(`:${config.service['storage.path']}`)),
    'the buffer is a volume: it survives a restart',
  )
  t.ok(
    compose.ports.includes(`127.0.0.1:${input!.port}:${input!.port}`),
    'the forward port is where the log driver sends',
  )
})

t.test('filters: parse the log field with the pino parser, add service and environment', async t => {
  const [parse, service, environment] = config.pipeline.filters
  t.match(parse, { name: 'parser', key_name: 'log' })
  t.match(String(parse!.reserve_data), /^(on|true)$/, 'the other fields (container_name …) are kept')
  t.match(
    String(config.parsers.find(parser => parser.name === 'pino')!.time_keep),
    /^(on|true)$/,
    'the time field stays in the record',
  )
  t.ok(
    config.parsers.some(parser => parser.name === parse!.parser),
    'the parser it names is defined',
  )
  t.match(service, { name: 'modify', copy: 'container_name service' })
  t.match(environment, { name: 'modify', add: 'environment ${GATEHOUSE_ENVIRONMENT}' })
  for (const filter of config.pipeline.filters) {
    t.equal(filter.match, config.pipeline.outputs[0]!.match, 'filters see what the output ships')
  }
})

forEachBackend(t, async (t, backend) => {
  const parser = config.parsers.find(entry => entry.name === 'pino')!
  const secrets = {
    password: 'correct-horse-battery-staple',
    cookie: 'session=s3cr3t-cookie-value',
    bearer: 'Bearer tok-abcdef0123456789',
  }
  const basicToken = Buffer.from(`alice@tenant:${secrets.password}`).toString('base64')

  // The API with the production logger settings, called with credentials it must never write down.
  const api = lineCollector()
  const app = await buildApp(testConfig(backend), {
    database: backend.database,
    logger: { ...loggerOptions('api', 'info'), stream: api.stream },
  })
  t.teardown(() => app.close())
  const tenant = await backend.createTenant()
  const caller = callerFor(app, tenant)
  const headers = {
    authorization: secrets.bearer,
    cookie: secrets.cookie,
    'proxy-authorization': `Basic ${basicToken}`,
  }
  t.equal((await caller.request({ method: 'GET', url: '/api/v1/projects', headers })).statusCode, 200)
  t.equal((await caller.request({ method: 'GET', url: '/api/v1/nope', headers })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/v1/projects', headers })).statusCode, 401)
  // Someone logging whole request headers is caught by the redaction paths (a bare pino logger with the
  // shared options: inside Fastify the req/res serializers would drop the headers before redaction runs).
  pino(loggerOptions('api', 'info'), api.stream).info(
    {
      req: { headers: { ...headers, 'x-gatehouse-signature': 'sig-value-0123' } },
      res: { headers: { 'set-cookie': secrets.cookie } },
    },
    'headers logged by mistake',
  )

  // The proxy likewise: a failed login (Basic credentials with a wrong password) and a good one.
  const dir = mkdtempSync(join(tmpdir(), 'fluent-bit-lines-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'htpasswd'), `alice@${tenant.slug}:${await hashPassword('right-password', 4)}\n`)
  const proxy = lineCollector()
  const proxyApp = await buildProxyApp(
    loadProxyConfig({
      DATA_DIR: dir,
      HTPASSWD_FILE: join(dir, 'htpasswd'),
      IDENTITY_SECRET: TEST_IDENTITY_SECRET,
      UPSTREAM_URLS: 'http://127.0.0.1:9',
    }),
    {
      tls: await ensureLocalCertificate(join(dir, 'tls'), ['localhost']),
      logger: { ...loggerOptions('proxy', 'info'), stream: proxy.stream },
    },
  )
  t.teardown(() => proxyApp.close())
  const wrong = await proxyApp.inject({
    url: '/api/v1/projects',
    headers: { authorization: `Basic ${basicToken}`, cookie: secrets.cookie },
  })
  t.equal(wrong.statusCode, 401)
  const right = await proxyApp.inject({
    url: '/api/v1/projects',
    headers: {
      authorization: `Basic ${Buffer.from(`alice@${tenant.slug}:right-password`).toString('base64')}`,
      cookie: secrets.cookie,
    },
  })
  t.equal(right.statusCode, 503, 'authenticated, then the (never started) upstream: 503 starting, more lines')

  const lines = [...api.lines, ...proxy.lines]
  t.ok(
    api.lines.length >= 5 && proxy.lines.length >= 3,
    `real lines from both processes (${api.lines.length} + ${proxy.lines.length})`,
  )

  t.test('the json parser accepts every line, with its time key in the configured format', async t => {
    t.equal(parser.format, 'json')
    const time = timeFormatPattern(String(parser.time_format))
    for (const line of lines) {
      const record = JSON.parse(line) as Record<string, unknown>
      t.ok(record !== null && typeof record === 'object' && !Array.isArray(record), 'one JSON object per line')
      const value = record[String(parser.time_key)]
      t.type(value, 'string')
      const matched = time.exec(String(value))
      t.ok(matched, `${String(value)} matches ${String(parser.time_format)}`)
      // What follows the format must be "Z": Fluent Bit then reads the time as UTC, which it is.
      t.equal(String(value).slice(matched?.[0].length ?? 0), 'Z')
      t.match(record, { level: /^(trace|debug|info|warn|error|fatal)$/, service: /^(api|proxy)$/, msg: String })
    }
  })

  t.test('no credential value is ever in a line', async t => {
    const all = lines.join('\n')
    for (const value of [
      secrets.password,
      basicToken,
      's3cr3t-cookie-value',
      'tok-abcdef0123456789',
      'sig-value-0123',
      'right-password',
    ]) {
      t.notOk(all.includes(value), `${value} is not logged`)
    }
    t.ok(
      lines.some(line => line.includes('headers logged by mistake') && line.includes('[redacted]')),
      'the mistaken header log was redacted',
    )
  })
})
