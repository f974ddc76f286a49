// The edge-overhead section's three loads, the same for every row: a GET the upstream forbids storing (so every
// edge forwards each one), a GET it lets caches keep for a minute (answered from the edges' caches), and that
// cacheable GET on a new connection each time (the handshake's cost; an edge without a cache forwards it).
import { READER } from '../credentials.js'
import type { Scenario } from '../scenarios.js'
import type { OverheadScenarioId } from '../settings.js'

/** Under the proxy's forwarded prefix (/api/v1), which nginx and Caddy are configured to forward too. */
export const OVERHEAD_PATH = '/api/v1/edge-overhead'

export type OverheadScenario = Scenario & { id: OverheadScenarioId }

export function buildOverheadScenarios (ids: OverheadScenarioId[]): OverheadScenario[] {
  const all: { [Id in OverheadScenarioId]: OverheadScenario & { id: Id } } = {
    forwarded: {
      id: 'forwarded', title: `Forwarded GET ${OVERHEAD_PATH}?cache=no (the upstream answers no-store)`,
      method: 'GET', url: `${OVERHEAD_PATH}?cache=no`, login: READER, headers: {},
      newConnections: false, cached: false, expectedStatus: 200,
    },
    'cache-hit': {
      id: 'cache-hit', title: `Cache hit: GET ${OVERHEAD_PATH} (the upstream answers public, max-age=60)`,
      method: 'GET', url: OVERHEAD_PATH, login: READER, headers: {},
      newConnections: false, cached: true, expectedStatus: 200,
    },
    'new-tls': {
      id: 'new-tls', title: 'New TLS connection per request: the cache-hit GET with Connection: close',
      method: 'GET', url: OVERHEAD_PATH, login: READER, headers: { connection: 'close' },
      newConnections: true, cached: true, cacheOptional: true, expectedStatus: 200,
    },
  }
  return ids.map((id) => all[id])
}
