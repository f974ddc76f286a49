// Before each run, the scenario's first request is sent to the subject by hand and its answer checked: the
// status, the rows the seed put there, and — for every subject but the API — the API's own answer to it. A
// subject that answers differently is a broken comparison: AnswerMismatch stops the bench.
import { isDeepStrictEqual } from 'node:util'
import { request } from 'undici'
import { tail } from '../processes.ts'
import type { ApiScenarioId } from '../settings.ts'
import type { WrkRequest } from '../wrk.ts'
import type { ApiScenario } from './scenarios.ts'
import type { ApiSubject } from './subjects.ts'

export class AnswerMismatch extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AnswerMismatch'
  }
}

/** What a subject's answer has that the API's has not: the whole body for reads, the fields for writes. */
export function answerDifference(
  scenario: Pick<ApiScenario, 'sameAs'>,
  body: unknown,
  apiBody: unknown,
): string | undefined {
  if (scenario.sameAs === 'equal') {
    return isDeepStrictEqual(body, apiBody)
      ? undefined
      : `the API answered ${JSON.stringify(apiBody).slice(0, 300)}\n  this one ${JSON.stringify(body).slice(0, 300)}`
  }
  const fields = (value: unknown): string =>
    value !== null && typeof value === 'object' ? Object.keys(value).sort().join(',') : typeof value
  return fields(body) === fields(apiBody) ? undefined : `fields ${fields(body)}, the API's ${fields(apiBody)}`
}

async function send(origin: string, signed: WrkRequest): Promise<{ status: number; text: string }> {
  let failure: Error | undefined
  // A connection can be cut (a keep-alive race): tried again before it counts.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const response = await request(`${origin}${signed.path}`, {
        method: signed.method,
        headers: signed.headers,
        ...(signed.body !== undefined ? { body: signed.body } : {}),
      })
      return { status: response.statusCode, text: await response.body.text() }
    } catch (error) {
      failure = error as Error
    }
  }
  throw new Error(`request failed: ${failure?.message} (${(failure as { code?: string }).code ?? 'no code'})`)
}

/**
 * Checks one subject's answer to `signed[0]`; the API's answers are kept in `apiAnswers` for the other
 * subjects' (the first pass asks the API first). Unreachable: a plain error (that run fails, the bench goes on).
 */
export async function probeSubject(
  subject: ApiSubject,
  scenario: ApiScenario,
  signed: WrkRequest[],
  apiAnswers: Map<ApiScenarioId, unknown>,
): Promise<void> {
  const { status, text } = await send(subject.origin, signed[0]!)
  const problems: string[] = []
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    problems.push(`not JSON: ${text.slice(0, 200)}`)
  }
  if (status !== scenario.expectedStatus) {
    problems.push(`status ${status}, expected ${scenario.expectedStatus}: ${text.slice(0, 300)}`)
  }
  if (problems.length === 0) problems.push(...scenario.check(body))
  if (problems.length === 0 && subject.id === 'api') apiAnswers.set(scenario.id, body)
  const apiBody = apiAnswers.get(scenario.id)
  if (problems.length === 0 && subject.id !== 'api' && apiBody !== undefined) {
    const difference = answerDifference(scenario, body, apiBody)
    if (difference !== undefined) problems.push(`differs from the API's answer: ${difference}`)
  }
  if (problems.length > 0) {
    throw new AnswerMismatch(
      `${subject.label}, ${scenario.id}: the probe before the run found\n  ${problems.join('\n  ')}\nits log ends with:\n${tail(subject.logFile, 10)}`,
    )
  }
}
