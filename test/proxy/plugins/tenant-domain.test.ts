// A request on a tenant's own domain belongs to that tenant, through the real edge (TLS, HTTP/2 and HTTP/1.1):
// its users work as on the main name, another tenant's login gets 403 problem+json; names no tenant owns are as
// before. Who owns a name is read from memory on the request path, not asked per request.
import t from 'tap'
import { forEachBackend, uniqueSlug } from '../../helpers/backends.ts'
import { Agent } from 'undici'
import { eventually, requestEdge, startEdgeStack, type EdgeRequestOptions } from '../../helpers/edge-stack.ts'

forEachBackend(t, async (t, backend) => {
  const ownName = 'edge.example.com'
  const stack = await startEdgeStack(t, backend, {
    TENANT_FACTS_TTL_SECONDS: '1',
    PROXY_HOSTNAMES: `localhost,127.0.0.1,::1,${ownName}`,
  })
  // The test CA's certificate names localhost only (certificates per tenant name are the ACME work's): the chain is
  // still checked, the name in it is not, so a request can name the tenant's domain in Host / :authority.
  const connect = { ca: stack.caCert, servername: 'localhost', checkServerIdentity: () => undefined }
  const agents = [true, false].map(allowH2 => new Agent({ allowH2, connect }))
  t.teardown(async () => {
    await Promise.all(agents.map(agent => agent.close()))
  })
  const onHost = (host: string, path: string, options: EdgeRequestOptions = {}) =>
    requestEdge(`${stack.proxyUrl}${path}`, agents[options.http2 === false ? 1 : 0]!, {
      ...options,
      headers: { ...options.headers, host },
    })
  const owner = await stack.addLogin('alice')
  const other = await stack.addLogin('mallory')
  const hostname = `${uniqueSlug('api')}.example.com`
  const body = JSON.stringify({ hostname })
  const claimed = await stack.request('/api/v1/domains', { as: owner, method: 'POST', body })
  t.equal(claimed.status, 201, claimed.body)

  for (const http2 of [true, false]) {
    const over = `HTTP/${http2 ? '2' : '1.1'}`
    t.test(`on the tenant's domain over ${over}: its users pass, another tenant's get 403`, async t => {
      const own = await onHost(`${hostname.toUpperCase()}:443`, '/api/v1/projects', { as: owner, http2 })
      t.equal(own.status, 200, own.body)
      const foreign = await onHost(hostname, '/api/v1/projects', { as: other, http2 })
      t.equal(foreign.status, 403)
      t.equal(foreign.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.match(foreign.json(), {
        status: 403,
        code: 'GH_EDGE_WRONG_TENANT_DOMAIN',
        type: 'urn:gatehouse:problem:wrong-tenant-domain',
        detail: new RegExp(hostname),
      })
      const query = JSON.stringify({ query: '{ viewer { user } }' })
      const graphql = await onHost(hostname, '/graphql', { as: other, http2, method: 'POST', body: query })
      t.equal(graphql.status, 403, 'GraphQL too')
      t.equal((await onHost(hostname, '/api/v1/projects', { http2 })).status, 401, 'no credentials: 401 first')
    })
  }

  t.test('names no tenant owns, and the main name, serve every tenant as before', async t => {
    const hosts = [
      `${uniqueSlug('nobody')}.example.com`,
      'localhost',
      '127.0.0.1',
      `${'a'.repeat(300)}.example.com`,
      'under_score.example',
    ]
    for (const host of hosts) {
      t.equal((await onHost(host, '/api/v1/projects', { as: other })).status, 200, host)
    }
  })

  t.test('the request path reads memory: no lookup per request', async t => {
    const facts = stack.proxy.tenantFacts
    const original = facts.domainOwner
    let lookups = 0
    facts.domainOwner = async name => {
      lookups++
      return original(name)
    }
    t.teardown(() => {
      facts.domainOwner = original
    })
    await onHost(hostname, '/api/v1/projects', { as: owner })
    lookups = 0
    const statuses = await Promise.all(
      Array.from({ length: 30 }, () =>
        onHost(hostname, '/api/v1/projects', { as: owner }).then(response => response.status),
      ),
    )
    t.same([...new Set(statuses)], [200])
    t.equal(lookups, 0, 'answered from memory')
  })

  t.test("the edge's own names are never looked up: an API that cannot answer refuses nothing there", async t => {
    const facts = stack.proxy.tenantFacts
    const { domainOwner, domainOwnerNow } = facts
    let lookups = 0
    facts.domainOwnerNow = name => {
      lookups++
      return domainOwnerNow(name)
    }
    facts.domainOwner = async () => {
      lookups++
      throw new Error('the API cannot be asked')
    }
    t.teardown(() => {
      Object.assign(facts, { domainOwner, domainOwnerNow })
    })
    for (const login of [owner, other]) {
      const response = await onHost(`${ownName.toUpperCase()}:8443`, '/api/v1/projects', { as: login })
      t.equal(response.status, 200, response.body)
    }
    t.equal(lookups, 0, "no question about the edge's own name")
  })

  t.test('a removed domain no longer excludes other tenants (within the TTL)', async t => {
    t.equal((await stack.request(`/api/v1/domains/${hostname}`, { as: owner, method: 'DELETE' })).status, 204)
    await eventually(
      async () => (await onHost(hostname, '/api/v1/projects', { as: other })).status === 200,
      5000,
      'the removal seen at the edge',
    )
  })

  t.test('the edge never forwards /internal, whoever asks', async t => {
    const response = await stack.request(`/internal/v1/tenants/${owner.tenant.slug}`, { as: owner })
    t.equal(response.status, 404)
    t.match(response.json(), { code: 'GH_ROUTE_NOT_FOUND' })
  })
})
