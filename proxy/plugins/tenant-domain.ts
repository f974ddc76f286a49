// A request that arrives on a tenant's own domain (Host or :authority) belongs to that tenant: another tenant's
// login gets 403. Who owns a name comes from tenant-facts, from memory on the request path. Registered after
// edge-auth in the authenticated context, so the principal is known.
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isLocalOnlyName, requestHostname } from '../../common/hostname.ts'
import { Errors } from '../../common/problem.ts'

const STORED_SPELLING = /^[a-z0-9.-]{1,253}$/

export interface TenantDomainOptions {
  /** The edge's own names (PROXY_HOSTNAMES): never a tenant's, so never looked up. */
  ownNames: string[]
}

async function tenantDomain(app: FastifyInstance, options: TenantDomainOptions): Promise<void> {
  const facts = app.tenantFacts
  const ownNames = new Set(options.ownNames)
  const decide = (request: FastifyRequest, hostname: string, owner: string | null): Error | undefined =>
    owner === null || owner === request.principal!.tenant
      ? undefined
      : new Errors.WrongTenantDomain(`${hostname} belongs to another tenant: use the main name, or its logins`)

  app.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    if (request.principal === null) return done()
    const hostname = requestHostname(request.host)
    // Addresses, local-only names and anything not spelt as stored names are (lowercase LDH ASCII, 253 at most)
    // can never be a tenant's: no lookup at all, so junk Host headers cost a regex, not a question to the API.
    // The edge's own names neither: on them a lookup the API cannot answer yet would refuse every request (503).
    if (
      ownNames.has(hostname) ||
      !STORED_SPELLING.test(hostname) ||
      isIP(hostname) !== 0 ||
      isLocalOnlyName(hostname)
    ) {
      return done()
    }
    const known = facts.domainOwnerNow(hostname)
    if (known !== undefined) return done(decide(request, hostname, known))
    // First request on this name since the answer left memory: wait for it once (one lookup for all callers).
    facts.domainOwner(hostname).then(
      owner => done(decide(request, hostname, owner)),
      (error: unknown) => {
        request.log.warn({ hostname, error: (error as Error).message }, 'could not tell whose domain this is')
        done(new Errors.TenantFactsUnavailable())
      },
    )
  })
}

export default fp(tenantDomain, { name: 'tenant-domain', fastify: '5.x', dependencies: ['edge-auth', 'tenant-facts'] })
