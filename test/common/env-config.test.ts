// Configuration is validated once at start; an operator who gets it wrong must be told which setting.
import t, { type Test } from 'tap'
import { Type } from 'typebox'
import { ConfigError, loadEnvConfig } from '../../common/env-config.ts'
import { loadServerConfig } from '../../server/config.ts'

const Schema = Type.Object({
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  LEVEL: Type.Enum(['info', 'debug'], { default: 'info' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  FLAG: Type.Boolean({ default: false }),
  API_SECRET: Type.String({ minLength: 8 }),
})

function configError(t: Test, env: Record<string, string | undefined>): ConfigError {
  try {
    loadEnvConfig(Schema, env)
  } catch (error) {
    t.type(error, ConfigError)
    return error as ConfigError
  }
  t.fail('expected a ConfigError')
  return new ConfigError([])
}

t.test('valid settings are converted to their types, with defaults filled in', async t => {
  t.same(loadEnvConfig(Schema, { PORT: '8080', FLAG: 'true', API_SECRET: 'longenough', UNRELATED: 'x' }), {
    PORT: 8080,
    LEVEL: 'info',
    FLAG: true,
    API_SECRET: 'longenough',
  })
})

t.test('an empty variable counts as unset, so the default applies', async t => {
  t.same(loadEnvConfig(Schema, { PORT: '', DATABASE_URL: '', API_SECRET: 'longenough' }), {
    PORT: 3000,
    LEVEL: 'info',
    FLAG: false,
    API_SECRET: 'longenough',
  })
})

t.test('each bad setting is named, with what it takes and what it got', async t => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ PORT: 'eighty' }, 'PORT', /^PORT: .*integer.*\(got "eighty"\)$/],
    [{ PORT: '70000' }, 'PORT', /^PORT: .*65535.*\(got "70000"\)$/],
    // Not silently truncated, nor read as hex or exponent.
    [{ PORT: '3.5' }, 'PORT', /^PORT: .*integer.*\(got "3\.5"\)$/],
    [{ PORT: '0x10' }, 'PORT', /^PORT: .*integer.*\(got "0x10"\)$/],
    [{ PORT: '1e3' }, 'PORT', /^PORT: .*integer.*\(got "1e3"\)$/],
    [{ LEVEL: 'loud' }, 'LEVEL', /^LEVEL: must be one of info, debug \(got "loud"\)$/],
    [{ FLAG: 'maybe' }, 'FLAG', /^FLAG: .*boolean.*\(got "maybe"\)$/],
    // Secrets and URLs (which carry passwords) are named but never echoed into logs.
    [{ DATABASE_URL: 'mysql://root:hunter2@db' }, 'DATABASE_URL', /^DATABASE_URL: .*\(got 23 characters, not shown\)$/],
    [{ API_SECRET: 'short' }, 'API_SECRET', /^API_SECRET: .*\(got 5 characters, not shown\)$/],
  ]
  for (const [env, name, line] of cases) {
    const error = configError(t, { API_SECRET: 'longenough', ...env })
    t.equal(error.problems.length, 1, `only ${name} is reported`)
    t.match(error.problems[0], line, name)
    t.match(error.message, new RegExp(`^Invalid configuration:\\n  - ${name}: `), `${name} in the message`)
    t.notMatch(error.message, /hunter2|short"/, 'no secret in the message')
  }
})

t.test('a missing required setting is named', async t => {
  const error = configError(t, {})
  t.equal(error.problems.length, 1)
  t.match(error.problems[0], /^API_SECRET: /)
})

t.test('several bad settings are all reported, once each', async t => {
  const error = configError(t, { PORT: '-1', LEVEL: 'loud', API_SECRET: 'x' })
  t.same(error.problems.map(problem => problem.split(':')[0]).sort(), ['API_SECRET', 'LEVEL', 'PORT'])
})

t.test('the server configuration names its bad settings', async t => {
  const secret = { IDENTITY_SECRET: 'x'.repeat(32) }
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'http' }, 'PORT'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'http://db' }, 'DATABASE_URL'],
    [{ DATABASE_POOL_MAX: '0' }, 'DATABASE_POOL_MAX'],
    [{ IDENTITY_SECRET: 'too-short' }, 'IDENTITY_SECRET'],
    [{ IDENTITY_MAX_AGE_SECONDS: '0' }, 'IDENTITY_MAX_AGE_SECONDS'],
    [{ GRAPHIQL: 'perhaps' }, 'GRAPHIQL'],
    [{ SEED_DEMO_DATA: 'yes please' }, 'SEED_DEMO_DATA'],
  ]
  for (const [env, name] of cases) {
    try {
      loadServerConfig({ ...secret, ...env })
      t.fail(`${name} was accepted`)
    } catch (error) {
      t.type(error, ConfigError)
      t.same(
        (error as ConfigError).problems.map(problem => problem.split(':')[0]),
        [name],
      )
    }
  }
  const config = loadServerConfig({
    ...secret,
    DATABASE_URL: 'postgresql://gatehouse_app@db/gatehouse',
    TRUST_PROXY: '10.0.0.1, 10.0.0.0/8,',
  })
  t.match(config.database, { kind: 'postgres', url: 'postgresql://gatehouse_app@db/gatehouse', poolMax: 10 })
  t.same(config.trustProxy, ['10.0.0.1', '10.0.0.0/8'])
})
