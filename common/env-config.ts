// Typed configuration from environment variables, validated once at start.
// Both processes describe their settings as a TypeBox object whose keys are the variable names,
// so the type, the default and the validation are one definition.
import { type TObject, type Static } from 'typebox'
import { Value } from 'typebox/value'

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map(problem => `  - ${problem}`).join('\n')}`)
    this.problems = problems
    this.name = 'ConfigError'
  }
}

// Secrets and connection URLs (which carry passwords) are never echoed: the message ends up in logs.
const SENSITIVE = /SECRET|PASSWORD|TOKEN|_URLS?$/i

export function loadEnvConfig<Schema extends TObject>(
  schema: Schema,
  env: Record<string, string | undefined>,
): Static<Schema> {
  const given: Record<string, string> = {}
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key]
    // An empty variable means "not set", as shells and compose files write it.
    if (raw !== undefined && raw !== '') given[key] = raw
  }
  // Default and Convert may change their argument in place: hand them a copy, keep `given` as the operator wrote it.
  const converted = Value.Convert(schema, Value.Default(schema, { ...given })) as Record<string, unknown>
  // Convert truncates "3.5" to 3 and reads "0x10" or "1e3" as numbers: an integer setting takes plain digits,
  // anything else stays text so the check below names it.
  for (const [key, raw] of Object.entries(given)) {
    if ((schema.properties[key] as { type?: unknown }).type === 'integer' && !/^\s*[+-]?\d+\s*$/.test(raw)) {
      converted[key] = raw
    }
  }
  if (Value.Check(schema, converted)) return converted as Static<Schema>

  // One line per bad setting, naming it and what it takes.
  const problems = new Map<string, string>()
  for (const error of Value.Errors(schema, converted)) {
    const name = error.instancePath.replace(/^\//, '').split('/')[0] || Object.values(error.params ?? {}).join(', ')
    if (problems.has(name)) continue
    const choices = (schema.properties[name] as { enum?: unknown[] } | undefined)?.enum
    const expected = choices !== undefined ? `must be one of ${choices.join(', ')}` : error.message
    const got = !(name in given)
      ? ''
      : SENSITIVE.test(name)
        ? ` (got ${given[name]!.length} characters, not shown)`
        : ` (got ${JSON.stringify(given[name])})`
    problems.set(name, `${name}: ${expected}${got}`)
  }
  throw new ConfigError([...problems.values()])
}
