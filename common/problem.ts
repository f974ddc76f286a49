// RFC 9457 problem details, as both processes render every error.
// @see https://www.rfc-editor.org/rfc/rfc9457
import type { FastifyReply, FastifyRequest } from 'fastify'

export const PROBLEM_TYPE_BASE = 'urn:gatehouse:problem:'

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  code: string
  requestId?: string
  errors?: Array<{ in: string, pointer: string, detail: string }>
}

export interface ProblemInput {
  status: number
  code: string
  /** The slug after urn:gatehouse:problem: — stable, clients may switch on it. */
  slug: string
  title: string
  detail?: string
  errors?: ProblemBody['errors']
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, problem: ProblemInput): FastifyReply {
  const body: ProblemBody = {
    type: PROBLEM_TYPE_BASE + problem.slug,
    title: problem.title,
    status: problem.status,
    code: problem.code,
    instance: request.url,
    requestId: request.id,
    ...(problem.detail !== undefined ? { detail: problem.detail } : {}),
    ...(problem.errors !== undefined ? { errors: problem.errors } : {}),
  }
  return reply.code(problem.status).type('application/problem+json').send(body)
}
