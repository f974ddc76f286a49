// Typed configuration from environment variables, validated once at start.
// Both processes describe their settings as a TypeBox object whose keys are the variable names,
// so the type, the default and the validation are one definition.
import { type TObject, type Static } from 'typebox'
import { Value } from 'typebox/value'

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export function loadEnvConfig<Schema extends TObject> (schema: Schema, env: Record<string, string | undefined>): Static<Schema> {
  const known: Record<string, unknown> = {}
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key]
    // An empty variable means "not set", as shells and compose files write it.
    if (raw !== undefined && raw !== '') known[key] = raw
  }
  const withDefaults = Value.Default(schema, known)
  const converted = Value.Convert(schema, withDefaults)
  if (Value.Check(schema, converted)) return converted as Static<Schema>

  // One line per bad setting, naming it and what it takes.
  const problems = new Map<string, string>()
  for (const error of Value.Errors(schema, converted)) {
    const name = error.instancePath.replace(/^\//, '').split('/')[0] || Object.values(error.params ?? {}).join(', ')
    if (problems.has(name)) continue
    const choices = (schema.properties[name] as { enum?: unknown[] } | undefined)?.enum
    const expected = choices !== undefined ? `must be one of ${choices.join(', ')}` : error.message
    const given = name in known ? ` (got ${JSON.stringify(known[name])})` : ''
    problems.set(name, `${name}: ${expected}${given}`)
  }
  throw new ConfigError([...problems.values()])
}
