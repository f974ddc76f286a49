// Caddy from Debian (2.6, no plugins) doing what it can of the edge's work: TLS 1.2+ with the same
// certificate, basic auth against the same bcrypt hashes with its verification cache on (hash_cache, the
// counterpart of ours), the same security headers, keep-alive to the API, identity headers from a table of
// pre-signed requests reloaded through its admin API before each run. Debian's build has no rate-limit and
// no cache module: those parts are not done, and the cached GET is marked not applicable.
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startProcess, waitUntilAnswers } from '../processes.ts'
import type { Scenario } from '../scenarios.ts'
import { EDGE_SECURITY_HEADER_VALUES } from '../security-headers.ts'
import type { TargetId } from '../settings.ts'
import { edgeCredentials, signScenarioRequests, type Target, type TargetContext } from './target.ts'

export const CADDY = '/usr/bin/caddy'

export interface CaddyOptions {
  id: TargetId
  label: string
  port: number
  adminPort: number
  allCores: boolean
}

function config(context: TargetContext, options: CaddyOptions, dir: string): object {
  const signed = signScenarioRequests(context.identitySecret, context.scenarios, 'bench-caddy')
  const securityHeaders = {
    handler: 'headers',
    // Deferred: applied as the response is written, so they replace whatever the API sent under these names.
    response: {
      deferred: true,
      set: Object.fromEntries(Object.entries(EDGE_SECURITY_HEADER_VALUES).map(([name, value]) => [name, [value]])),
    },
  }
  const accounts = [...context.credentials.htpasswd.hashes].map(([username, hash]) => ({
    username,
    password: Buffer.from(hash).toString('base64'),
  }))
  return {
    admin: { listen: `127.0.0.1:${options.adminPort}` },
    logging: { logs: { default: { level: 'ERROR' } } },
    storage: { module: 'file_system', root: join(dir, 'storage') },
    apps: {
      tls: {
        certificates: {
          load_files: [
            { certificate: context.credentials.certChainFile, key: context.credentials.keyFile, tags: ['bench'] },
          ],
        },
      },
      http: {
        servers: {
          edge: {
            listen: [`127.0.0.1:${options.port}`],
            protocols: ['h1', 'h2'],
            automatic_https: { disable: true },
            tls_connection_policies: [{ certificate_selection: { any_tag: ['bench'] }, protocol_min: 'tls1.2' }],
            routes: [
              {
                match: [{ path: ['/health'] }],
                handle: [
                  securityHeaders,
                  {
                    handler: 'static_response',
                    status_code: 200,
                    headers: { 'Content-Type': ['application/json'] },
                    body: '{"status":"ok"}',
                  },
                ],
                terminal: true,
              },
              {
                match: [{ path: ['/api/v1', '/api/v1/*', '/graphql'] }],
                handle: [
                  securityHeaders,
                  {
                    handler: 'authentication',
                    providers: {
                      http_basic: { hash: { algorithm: 'bcrypt' }, accounts, realm: 'Gatehouse', hash_cache: {} },
                    },
                  },
                  {
                    handler: 'map',
                    source: '{http.auth.user.id} {http.request.method} {http.request.uri}',
                    destinations: [
                      '{gatehouse_tenant}',
                      '{gatehouse_user}',
                      '{gatehouse_timestamp}',
                      '{gatehouse_signature}',
                      '{gatehouse_content_digest}',
                    ],
                    mappings: signed.map(entry => ({
                      input: entry.key,
                      outputs: [entry.tenant, entry.user, entry.timestamp, entry.signature, entry.contentDigest],
                    })),
                    defaults: ['', '', '', '', ''],
                  },
                  // encode zstd gzip, gzip at level 1 as nginx's default, for the JSON the API sends.
                  {
                    handler: 'encode',
                    encodings: { zstd: {}, gzip: { level: 1 } },
                    prefer: ['zstd', 'gzip'],
                    minimum_length: 1024,
                    match: { headers: { 'Content-Type': ['application/json*'] } },
                  },
                  {
                    handler: 'reverse_proxy',
                    upstreams: [{ dial: new URL(context.apiOrigin).host }],
                    transport: { protocol: 'http', keep_alive: { enabled: true, max_idle_conns_per_host: 128 } },
                    headers: {
                      request: {
                        delete: ['Authorization'],
                        set: {
                          'X-Request-Id': ['bench-caddy'],
                          'X-Gatehouse-Tenant': ['{gatehouse_tenant}'],
                          'X-Gatehouse-User': ['{gatehouse_user}'],
                          'X-Gatehouse-Timestamp': ['{gatehouse_timestamp}'],
                          'X-Gatehouse-Signature': ['{gatehouse_signature}'],
                          // Empty for a bodiless request: the API reads an empty Content-Digest as none.
                          'Content-Digest': ['{gatehouse_content_digest}'],
                        },
                      },
                    },
                  },
                ],
                terminal: true,
              },
              { handle: [securityHeaders, { handler: 'static_response', status_code: 404 }] },
            ],
          },
        },
      },
    },
  }
}

export async function startCaddy(context: TargetContext, options: CaddyOptions): Promise<Target> {
  const dir = join(context.dir, options.id)
  mkdirSync(dir, { recursive: true })
  const configFile = join(dir, 'caddy.json')
  writeFileSync(configFile, JSON.stringify(config(context, options, dir), null, 2))
  const caddy = startProcess(options.id, CADDY, ['run', '--config', configFile], {
    logFile: join(dir, 'caddy.log'),
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      ...(options.allCores ? {} : { GOMAXPROCS: '1' }),
    },
  })
  const origin = `https://127.0.0.1:${options.port}`
  await waitUntilAnswers(caddy, `${origin}/health`, { caCert: context.credentials.caCert })
  return {
    id: options.id,
    label: options.label,
    workers: options.allCores ? `GOMAXPROCS=${availableParallelism()}` : 'GOMAXPROCS=1',
    origin,
    logFiles: [caddy.logFile],
    rootPids: () => [caddy.child.pid!],
    notApplicable: scenario =>
      scenario.cached && scenario.cacheOptional !== true ? "no cache module in Debian's Caddy" : undefined,
    securityHeaders: true,
    omissions: ["no rate limit (no module in Debian's Caddy)", 'no response cache'],
    async prepare(scenario: Scenario) {
      const response = await request(`http://127.0.0.1:${options.adminPort}/load`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(config(context, options, dir)),
      })
      const text = await response.body.text()
      if (response.statusCode !== 200) {
        throw new Error(`${options.id}: reloading the configuration failed (${response.statusCode}): ${text}`)
      }
      return edgeCredentials(scenario)
    },
    expectedHeaders: () => ({}),
    stop: () => caddy.stop(),
  }
}
