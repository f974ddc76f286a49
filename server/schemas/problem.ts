import { Type, type Static } from 'typebox'

/** RFC 9457 problem details, as every error of the API is rendered. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'Stable URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.String({ description: 'Machine-readable error code' }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          in: Type.String({ description: 'body, querystring, params or headers' }),
          pointer: Type.String({ description: 'JSON pointer to the offending value' }),
          detail: Type.String(),
        }),
      ),
    ),
  },
  { $id: 'Problem', title: 'Problem' },
)

export type Problem = Static<typeof ProblemSchema>

/**
 * Response entries for the error statuses a route can produce, declared with the media type they are sent
 * with, so OpenAPI says application/problem+json and Fastify serializes them through the Problem schema.
 */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  return Object.fromEntries(statuses.map(status => [status, PROBLEM_RESPONSE]))
}

const PROBLEM_RESPONSE = {
  description: 'Problem details (RFC 9457)',
  content: { 'application/problem+json': { schema: ProblemSchema } },
}
type ProblemResponse = typeof PROBLEM_RESPONSE
