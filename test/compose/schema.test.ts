// compose.yaml against the Compose Specification's JSON schema (ops/schemas/compose-spec.json), with ajv:
// no Docker engine runs here, so this is what `docker compose config` would refuse first.
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import t from 'tap'
import { readText } from '../ops/ops-helpers.ts'
import { rawCompose } from './compose-helpers.ts'

const schema = JSON.parse(readText('ops/schemas/compose-spec.json')) as Record<string, unknown>
// The file names draft-07 as https://json-schema.org/draft-07/schema, which ajv knows without "https";
// ajv's default dialect is draft-07 already. "deprecated" and similar annotations are allowed (strict off).
delete schema.$schema
const ajv = new Ajv({ allErrors: true, strict: false })
addFormats.default(ajv)
const validate = ajv.compile(schema)

t.test('compose.yaml is valid against the Compose Specification schema', async t => {
  const valid = validate(rawCompose())
  t.ok(valid, JSON.stringify(validate.errors, null, 2))
})

t.test('the schema does refuse a broken file (the validator is not vacuous)', async t => {
  const broken = structuredClone(rawCompose()) as any
  broken.services.proxy.depends_on['api-1'].condition = 'service_started_eventually'
  broken.services.postgres.volumes = 'postgres-data'
  broken.services.redis.unknown_key = true
  t.notOk(validate(broken))
  const paths = (validate.errors ?? []).map(error => error.instancePath)
  t.ok(
    paths.some(path => path.startsWith('/services/proxy/depends_on')),
    'the bad condition is named',
  )
  t.ok(
    paths.some(path => path === '/services/postgres/volumes'),
    'volumes that are not a list are named',
  )
  t.ok(
    (validate.errors ?? []).some(
      error => error.instancePath === '/services/redis' && error.keyword === 'additionalProperties',
    ),
    'the unknown key is named',
  )
})
