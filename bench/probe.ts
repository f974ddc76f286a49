// Before each run, the scenario's request is sent twice by hand and the answer checked: the right status,
// the edge's security headers (proxies), and what the target claims to do — a cache hit, a bypass, its
// rate-limit headers. A target that does not do the work its row says it does stops the bench.
import { Agent, request } from 'undici'
import type { Scenario } from './scenarios.ts'
import { tail } from './processes.ts'
import { securityHeaderMismatches } from './security-headers.ts'
import type { Target } from './targets/target.ts'

export async function probe(
  target: Target,
  scenario: Scenario,
  headers: Record<string, string>,
  caCert: string,
): Promise<void> {
  const agent = new Agent({ connect: { ca: caCert } })
  const send = async (): Promise<{
    status: number
    headers: Record<string, string | string[] | undefined>
    body: string
  }> => {
    const { connection: _connection, ...sent } = { ...scenario.headers, ...headers }
    const response = await request(`${target.origin}${scenario.url}`, {
      method: scenario.method,
      headers: sent,
      dispatcher: agent,
      ...(scenario.body !== undefined ? { body: scenario.body } : {}),
    })
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() }
  }
  try {
    let problems: string[] = []
    // The first answer may fill a cache; the second is the one checked. A cached entry can expire between
    // the two (s-maxage=5), and a connection can be cut, so a failed probe is tried again before it counts.
    for (let attempt = 0; attempt < 3; attempt++) {
      problems = []
      let answer: Awaited<ReturnType<typeof send>>
      try {
        await send()
        answer = await send()
      } catch (error) {
        problems.push(`request failed: ${(error as Error).message} (${(error as { code?: string }).code ?? 'no code'})`)
        continue
      }
      if (answer.status !== scenario.expectedStatus) {
        problems.push(`status ${answer.status}, expected ${scenario.expectedStatus}: ${answer.body.slice(0, 300)}`)
      }
      if (target.securityHeaders) problems.push(...securityHeaderMismatches(answer.headers))
      for (const [name, pattern] of Object.entries(target.expectedHeaders(scenario))) {
        const value = answer.headers[name]
        const text = Array.isArray(value) ? value.join(', ') : (value ?? '')
        if (!pattern.test(text)) problems.push(`${name}: ${JSON.stringify(text)} does not match ${pattern}`)
      }
      if (problems.length === 0) return
    }
    const logs = target.logFiles.map(file => `${file}:\n${tail(file, 10)}`).join('\n')
    throw new Error(
      `${target.label}, ${scenario.title}: the probe before the run found\n  ${problems.join('\n  ')}\nits logs end with:\n${logs}`,
    )
  } finally {
    await agent.close()
  }
}
