// Security headers on every response the edge sends — forwarded API answers, the edge's own errors,
// its health check — over HTTP/2 and HTTP/1.1.
import t from 'tap'
import { HSTS_MAX_AGE_SECONDS } from '../../../proxy/plugins/security-headers.ts'
import { forEachBackend } from '../../helpers/backends.ts'
import { startEdgeStack, type EdgeResponse } from '../../helpers/edge-stack.ts'

function assertSecured(t: import('tap').Test, response: EdgeResponse, what: string): void {
  t.equal(response.headers['strict-transport-security'], `max-age=${HSTS_MAX_AGE_SECONDS}`, `${what}: HSTS`)
  t.equal(response.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  const csp = String(response.headers['content-security-policy'])
  t.match(csp, /(^|;)\s*frame-ancestors 'none'/, `${what}: no framing`)
  t.match(csp, /(^|;)\s*default-src 'self'/, `${what}: same-origin by default`)
  t.match(csp, /(^|;)\s*object-src 'none'/, `${what}: no plugins`)
  t.notMatch(csp, /script-src[^;]*(unsafe-inline|unsafe-eval|\*)/, `${what}: scripts only from the origin`)
  t.equal(response.headers['x-frame-options'], 'DENY', `${what}: framing refused for old browsers too`)
}

forEachBackend(t, async (t, backend) => {
  const stack = await startEdgeStack(t, backend, { RATE_LIMIT_FREE: '5' }) // the login probe and 2 API calls per protocol
  const alice = await stack.addLogin()

  t.test('on forwarded answers and on every kind of edge error', async t => {
    for (const http2 of [true, false]) {
      const cases: Array<[string, Promise<EdgeResponse>, number]> = [
        ['API 200', stack.request('/api/v1/projects?limit=7', { as: alice, http2 }), 200],
        ['API 404', stack.request('/api/v1/projects/00000000-0000-4000-8000-000000000000', { as: alice, http2 }), 404],
        ['401', stack.request('/api/v1/projects', { http2 }), 401],
        ['edge 404', stack.request('/nowhere', { as: alice, http2 }), 404],
        ['health', stack.request('/health', { http2 }), 200],
      ]
      for (const [what, pending, status] of cases) {
        const response = await pending
        t.equal(response.status, status, what)
        assertSecured(t, response, `${what} over ${http2 ? 'h2' : 'h1'}`)
      }
    }
    const limited = await stack.request('/api/v1/projects?limit=9', { as: alice })
    t.equal(limited.status, 429)
    assertSecured(t, limited, '429')
  })
})

t.test(
  'the headers are exactly those @fastify/helmet sends with the edge options, computed once, on every response',
  async t => {
    const { default: Fastify } = await import('fastify')
    const { default: helmet } = await import('@fastify/helmet')
    const {
      default: securityHeaders,
      HELMET_OPTIONS,
      EDGE_SECURITY_HEADERS,
    } = await import('../../../proxy/plugins/security-headers.ts')
    const build = async (plugin: 'ours' | 'helmet') => {
      const app = Fastify()
      if (plugin === 'ours') await app.register(securityHeaders)
      else await app.register(helmet, HELMET_OPTIONS)
      app.get('/ok', async () => ({ ok: true }))
      app.get('/fails', async () => {
        throw Object.assign(new Error('no'), { statusCode: 503 })
      })
      t.teardown(() => app.close())
      return app
    }
    const [ours, reference] = await Promise.all([build('ours'), build('helmet')])
    for (const url of ['/ok', '/fails', '/missing']) {
      const [mine, theirs] = await Promise.all([ours.inject(url), reference.inject(url)])
      const pick = (headers: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(headers).filter(([name]) => EDGE_SECURITY_HEADERS.has(name)))
      t.same(pick(mine.headers), pick(theirs.headers), `${url}: the same security headers as helmet's own plugin`)
      t.equal(Object.keys(pick(mine.headers)).length, EDGE_SECURITY_HEADERS.size, `${url}: every one of them`)
    }
  },
)
