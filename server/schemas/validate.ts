// Validation with the TypeBox schemas, for REST requests and GraphQL arguments alike, so a value one refuses
// is refused by the other too, with the same pointers.
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { Errors } from '../../common/problem.ts'

// Compiled once per schema: Value.Check interprets the schema on every call, several times the cost.
const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>()

/** `where` names the argument in the message (`input.title: …`); leave it empty for top-level arguments. */
export function assertValid<Schema extends TSchema>(schema: Schema, value: unknown, where = ''): Static<Schema> {
  let validator = compiled.get(schema)
  if (validator === undefined) {
    validator = Compile(schema)
    compiled.set(schema, validator)
  }
  if (validator.Check(value)) return value as Static<Schema>
  const first = Value.Errors(schema, value)[0]
  const path = [where, ...(first?.instancePath ?? '').split('/')].filter(Boolean).join('.')
  const unknown =
    first?.keyword === 'additionalProperties'
      ? ` (${String((first.params as { additionalProperties?: string[] }).additionalProperties)})`
      : ''
  const message = first !== undefined ? issueMessage(first) : 'is invalid'
  throw new Errors.InvalidInput(`${path || 'arguments'}: ${message}${unknown}`)
}

/**
 * A validation issue's message, naming the values allowed where the validator only says there are some
 * ("must be equal to one of the allowed values"). TypeBox and Ajv both put them in `params`.
 */
export function issueMessage(issue: { keyword?: string; message?: string; params?: unknown }): string {
  const params = (issue.params ?? {}) as { allowedValues?: unknown[]; allowedValue?: unknown }
  if (issue.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `must be one of: ${params.allowedValues.join(', ')}`
  }
  if (issue.keyword === 'const' && 'allowedValue' in params) return `must be ${String(params.allowedValue)}`
  return issue.message ?? 'is invalid'
}

/**
 * GraphQL passes explicit nulls for omitted nullable arguments in some clients; treat null as "not given" where the
 * schema has no null.
 */
export function withoutNulls<T extends Record<string, unknown>>(
  value: T | null | undefined,
  keepNull: readonly string[] = [],
): Partial<T> {
  if (value === null || value === undefined) return {}
  return Object.fromEntries(
    Object.entries(value).filter(([key, entry]) => entry !== null || keepNull.includes(key)),
  ) as Partial<T>
}

/**
 * Fastify's validator for /api/v1, on these same TypeBox schemas. Bodies are checked as sent (no coercion:
 * `{"priority": "3"}` is an error, as over GraphQL). Query strings and params arrive as text, so a property
 * typed integer or number is converted, but only from its plain decimal spelling: "1.5" is not an integer
 * and "0x10" or "" are not numbers (TypeBox's own Value.Convert would read them as 1, 16 and 0).
 */
export const requestValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema)
  return (value: unknown) => {
    const input = httpPart === 'body' ? value : fromText(schema, value)
    if (validator.Check(input)) return { value: input }
    return { error: validator.Errors(input) as unknown as FastifySchemaValidationError[] }
  }
}

const DECIMAL = { integer: /^-?\d{1,15}$/, number: /^-?\d{1,15}(?:\.\d{1,15})?$/ } as const

function fromText(schema: TSchema, value: unknown): unknown {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties
  if (properties === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return value
  return Object.fromEntries(
    Object.entries(value).map(([key, text]) => {
      const type = properties[key]?.type
      const numeric = (type === 'integer' || type === 'number') && typeof text === 'string' && DECIMAL[type].test(text)
      return [key, numeric ? Number(text) : text]
    }),
  )
}
