// What the client gets of the API's response headers: the edge's security policy stays the one in force
// (an upstream CSP would otherwise replace it), and the upstream connection's hop-by-hop headers stay behind.
import t from 'tap'
import { startScriptedStack } from '../../helpers/scripted-upstream.ts'

for (const http2 of [true, false]) {
  t.test(`upstream security and hop-by-hop headers are not passed on (${http2 ? 'HTTP/2' : 'HTTP/1.1'})`, async t => {
    const stack = await startScriptedStack(t)
    stack.respond((request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'cache-control': 's-maxage=60',
        'content-security-policy': "default-src 'none'",
        'x-frame-options': 'ALLOWALL',
        'keep-alive': 'timeout=1',
        'x-api-version': '1',
      })
      response.end('{}')
    })
    const [alice] = stack.logins
    for (const expected of [/fwd=uri-miss/, /hit/]) {
      const response = await stack.request('/api/v1/projects', { as: alice, http2 })
      t.equal(response.status, 200)
      t.match(response.headers['cache-status'], expected)
      t.match(response.headers['content-security-policy'], /^default-src 'self';/, 'the edge CSP, not the upstream one')
      t.equal(response.headers['x-frame-options'], 'DENY')
      t.not(response.headers['keep-alive'], 'timeout=1', "the upstream connection's keep-alive stays behind")
      t.equal(response.headers['x-api-version'], '1', 'end-to-end headers pass')
    }
  })
}
