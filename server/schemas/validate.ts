// Validation outside Fastify's request schemas (GraphQL arguments) with the very same TypeBox schemas,
// so a value REST refuses is refused over GraphQL too, with the same pointers.
import type { Static, TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { Errors } from '../errors.js'

/** `where` names the argument in the message (`input.title: …`); leave it empty for top-level arguments. */
export function assertValid<Schema extends TSchema> (schema: Schema, value: unknown, where = ''): Static<Schema> {
  if (Value.Check(schema, value)) return value as Static<Schema>
  const first = Value.Errors(schema, value)[0]
  const path = [where, ...(first?.instancePath ?? '').split('/')].filter(Boolean).join('.')
  const unknown = first?.keyword === 'additionalProperties' ? ` (${String((first.params as { additionalProperties?: string[] }).additionalProperties)})` : ''
  throw new Errors.InvalidInput(`${path || 'arguments'}: ${first?.message ?? 'is invalid'}${unknown}`)
}

/** GraphQL passes explicit nulls for omitted nullable arguments in some clients; treat null as "not given" where the schema has no null. */
export function withoutNulls<T extends Record<string, unknown>> (value: T | null | undefined, keepNull: readonly string[] = []): Partial<T> {
  if (value === null || value === undefined) return {}
  return Object.fromEntries(Object.entries(value).filter(([key, entry]) => entry !== null || keepNull.includes(key))) as Partial<T>
}
