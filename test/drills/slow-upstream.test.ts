// Drill (issue 5): a slow API behind the edge process, with UPSTREAM_TIMEOUT_MS set short.
// - An API that never sends its response headers: 504 problem+json at the deadline, over HTTP/1.1 and
//   HTTP/2, and a POST is not sent to it twice.
// - An API that sends headers at once, then trickles its body a byte at a time forever (so the idle body
//   timeout never fires): the exchange still ends at the deadline — streamed responses are cut off, one the
//   cache was holding becomes a 504 — and the connection to the API is released.
// Bounds are for "does not hang" with a lot of slack; none is about speed.
import t from 'tap'
import { Agent, request } from 'undici'
import { startSlowPeerStack } from '../helpers/slow-peers.ts'

const UPSTREAM_MS = 1500
const BOUND_MS = 20_000

const stack = await startSlowPeerStack(t, { UPSTREAM_TIMEOUT_MS: String(UPSTREAM_MS) })
const agents = [true, false].map(
  allowH2 =>
    new Agent({
      connect: { ca: stack.ca, servername: 'localhost' },
      allowH2,
      headersTimeout: BOUND_MS,
      bodyTimeout: BOUND_MS,
    }),
)
t.teardown(() => Promise.all(agents.map(agent => agent.close())))
const url = (path: string): string => `https://127.0.0.1:${stack.port}${path}`

t.test('no response headers by the deadline: 504 problem+json, and a POST is not resent', async t => {
  for (const [index, agent] of agents.entries()) {
    const protocol = index === 0 ? 'HTTP/2' : 'HTTP/1.1'
    for (const method of ['GET', 'POST'] as const) {
      const before = stack.neverAnswered.length
      const since = Date.now()
      const response = await request(url('/api/v1/never'), {
        dispatcher: agent,
        method,
        headers: { authorization: stack.authorization, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      })
      const elapsed = Date.now() - since
      t.equal(response.statusCode, 504, `${protocol} ${method}`)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(await response.body.json(), { type: 'urn:gatehouse:problem:upstream-timeout', status: 504 })
      t.ok(elapsed >= UPSTREAM_MS * 0.9 && elapsed < BOUND_MS, `at the deadline, not before it (${elapsed} ms)`)
      t.same(stack.neverAnswered.slice(before), [method], 'the API saw it once')
    }
  }
})

t.test('a body trickling in forever: the exchange ends at the deadline and the API connection is released', async t => {
  for (const [index, agent] of agents.entries()) {
    const protocol = index === 0 ? 'HTTP/2' : 'HTTP/1.1'
    for (const path of ['/api/v1/trickle', '/api/v1/trickle?shareable']) {
      const before = stack.streamed.length
      const since = Date.now()
      const outcome = await request(url(path), {
        dispatcher: agent,
        headers: { authorization: stack.authorization },
        signal: AbortSignal.timeout(BOUND_MS),
      }).then(
        async response => {
          try {
            await response.body.text()
            return `status ${response.statusCode}, whole body`
          } catch (error) {
            return `status ${response.statusCode}, body cut off (${(error as { code?: string }).code})`
          }
        },
        (error: Error) => `failed: ${error.message}`,
      )
      const elapsed = Date.now() - since
      t.ok(elapsed < BOUND_MS, `${protocol} ${path}: ended after ${elapsed} ms: ${outcome}`)
      if (path.endsWith('?shareable')) {
        t.equal(outcome, 'status 504, whole body', 'a response the cache was holding: nothing had been sent, so a 504')
      } else {
        t.match(
          outcome,
          /^status 200, body cut off/,
          'a streamed response: cut off, so the client knows it is incomplete',
        )
      }
      const record = stack.streamed[before]
      const deadline = Date.now() + BOUND_MS
      while (record !== undefined && !record.closed && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      t.ok(record?.closed === true, 'the API response was abandoned')
    }
  }
})
