// The file wrk's script reads in rotation mode, and the numbers read back from wrk's output.
import t from 'tap'
import { formatRequestFile, parseWrk } from '../../bench/wrk.ts'

t.test('a request per line: method, path, body or nothing, then header names and values, tab-separated', async t => {
  const file = formatRequestFile([
    {
      method: 'PATCH',
      path: '/api/v1/projects/1',
      headers: { 'content-type': 'application/json', 'x-gatehouse-signature': 'v2=ab_c-d' },
      body: '{"name":"Renamed 1"}',
    },
    { method: 'GET', path: '/api/v1/projects?limit=20', headers: { 'x-gatehouse-tenant': 'acme' } },
  ])
  t.equal(
    file,
    'PATCH\t/api/v1/projects/1\t{"name":"Renamed 1"}\tcontent-type\tapplication/json\tx-gatehouse-signature\tv2=ab_c-d\n' +
      'GET\t/api/v1/projects?limit=20\t\tx-gatehouse-tenant\tacme\n',
  )
})

t.test('a field the format cannot carry is refused, not sent garbled', async t => {
  t.throws(() => formatRequestFile([{ method: 'POST', path: '/', headers: {}, body: '{\n}' }]), /tab or a line break/)
  t.throws(() => formatRequestFile([{ method: 'GET', path: '/', headers: { 'x-a': 'a\tb' } }]), /tab or a line break/)
  t.throws(() => formatRequestFile([]), /at least one request/)
})

t.test('wrk output: rates, percentiles and every kind of error', async t => {
  const run = parseWrk(`Running 2s test @ http://127.0.0.1:1/
  1 threads and 32 connections
  Latency Distribution
     50%    1.50ms
     75%    2.00ms
     90%    3.00ms
     99%  250.00us
  4000 requests in 2.00s, 1.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:   2000.50
Transfer/sec:      0.50MB
`)
  t.same(run, {
    requestsPerSecond: 2000.5,
    p50Ms: 1.5,
    p99Ms: 0.25,
    requests: 4000,
    non2xx: 5,
    socketErrors: 6,
    timeouts: 4,
    bytesRead: 1024 ** 2,
  })
})
