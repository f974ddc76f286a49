// The edge-overhead section's three loads, the same for every row: a GET the upstream forbids storing (so every
// edge forwards each one), a GET it lets caches keep for a minute (answered from the edges' caches), and that
// cacheable GET on a new connection each time (the handshake's cost; an edge without a cache forwards it). Then
// compression: a 20-project page forwarded (every request a miss the edge compresses) and hit, uncoded and coded.
import { READER } from '../credentials.ts'
import type { Scenario } from '../scenarios.ts'
import type { OverheadScenarioId } from '../settings.ts'

/** Under the proxy's forwarded prefix (/api/v1), which nginx and Caddy are configured to forward too. */
export const OVERHEAD_PATH = '/api/v1/edge-overhead'

export type OverheadScenario = Scenario & { id: OverheadScenarioId }

export function buildOverheadScenarios(ids: OverheadScenarioId[]): OverheadScenario[] {
  const all: Partial<Record<OverheadScenarioId, OverheadScenario>> = {
    forwarded: {
      id: 'forwarded',
      title: `Forwarded GET ${OVERHEAD_PATH}?cache=no (the upstream answers no-store)`,
      method: 'GET',
      url: `${OVERHEAD_PATH}?cache=no`,
      login: READER,
      headers: {},
      newConnections: false,
      cached: false,
      expectedStatus: 200,
    },
    'cache-hit': {
      id: 'cache-hit',
      title: `Cache hit: GET ${OVERHEAD_PATH} (the upstream answers public, max-age=60)`,
      method: 'GET',
      url: OVERHEAD_PATH,
      login: READER,
      headers: {},
      newConnections: false,
      cached: true,
      expectedStatus: 200,
    },
    'new-tls': {
      id: 'new-tls',
      title: 'New TLS connection per request: the cache-hit GET with Connection: close',
      method: 'GET',
      url: OVERHEAD_PATH,
      login: READER,
      headers: { connection: 'close' },
      newConnections: true,
      cached: true,
      cacheOptional: true,
      expectedStatus: 200,
    },
  }
  for (const encoding of [undefined, 'gzip', 'br', 'zstd'] as const) {
    const suffix = encoding === undefined ? '' : (`-${encoding}` as const)
    const headers: Record<string, string> = encoding === undefined ? {} : { 'accept-encoding': encoding }
    const asked = encoding === undefined ? 'no Accept-Encoding' : `Accept-Encoding: ${encoding}`
    const miss = `page-miss${suffix}` as const
    const hit = `page-hit${suffix}` as const
    all[miss] = {
      id: miss,
      title:
        `20-project page, miss: GET ${OVERHEAD_PATH}?body=page&cache=no ` +
        `(no-store: forwarded and coded every time), ${asked}`,
      method: 'GET',
      url: `${OVERHEAD_PATH}?body=page&cache=no`,
      login: READER,
      headers,
      newConnections: false,
      cached: false,
      expectedStatus: 200,
      ...(encoding !== undefined ? { encoding } : {}),
    }
    all[hit] = {
      id: hit,
      title: `20-project page, cache hit: GET ${OVERHEAD_PATH}?body=page (public, max-age=60), ${asked}`,
      method: 'GET',
      url: `${OVERHEAD_PATH}?body=page`,
      login: READER,
      headers,
      newConnections: false,
      cached: true,
      expectedStatus: 200,
      ...(encoding !== undefined ? { encoding } : {}),
    }
  }
  return ids.map(id => all[id]!)
}
