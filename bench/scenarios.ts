// The five loads every target gets, described once so each server is sent exactly the same requests.
import type { AnyScenarioId, ScenarioId } from './settings.ts'
import { READER, WRITER, type Login } from './credentials.ts'
import { PROJECTS } from './database.ts'

export interface Scenario {
  /** One of the edge section's (below) or the edge-overhead section's (bench/edge-overhead/scenarios.ts). */
  id: AnyScenarioId
  title: string
  method: 'GET' | 'POST'
  /** Path and query, exactly as sent (the identity signature covers it). */
  url: string
  /** Who asks; undefined for the unauthenticated health check. */
  login: Login | undefined
  body?: string
  /** Besides credentials: the same for every target. */
  headers: Record<string, string>
  /** `Connection: close`: every request opens a new connection (for the proxies, a full TLS handshake). */
  newConnections: boolean
  /** Whether a proxy with a cache should answer it from the cache. */
  cached: boolean
  /**
   * A proxy without a cache may forward it instead: what is measured is the rest (the new connections' handshakes),
   * not the cache. Otherwise such a proxy is not applicable to a cached scenario.
   */
  cacheOptional?: boolean
  expectedStatus: number
  /** The content coding asked for (Accept-Encoding) and expected back; undefined: none asked. */
  encoding?: 'gzip' | 'br' | 'zstd'
}

export const READ_URL = `/api/v1/projects?limit=${PROJECTS}`
export const GRAPHQL_QUERY = '{ projects(first: 10) { nodes { name tasks(first: 5) { title status } } next } }'

export function buildScenarios(writeProjectId: string): Record<ScenarioId, Scenario> {
  return {
    'cached-get': {
      id: 'cached-get',
      title: `Cached GET ${READ_URL}`,
      method: 'GET',
      url: READ_URL,
      login: READER,
      headers: {},
      newConnections: false,
      cached: true,
      expectedStatus: 200,
    },
    'uncached-get': {
      id: 'uncached-get',
      title: `Uncached GET ${READ_URL} (Cache-Control: no-store)`,
      method: 'GET',
      url: READ_URL,
      login: READER,
      headers: { 'cache-control': 'no-store' },
      newConnections: false,
      cached: false,
      expectedStatus: 200,
    },
    write: {
      id: 'write',
      title: 'Write: POST a task',
      method: 'POST',
      url: `/api/v1/projects/${writeProjectId}/tasks`,
      login: WRITER,
      body: JSON.stringify({ title: 'Benchmark task', priority: 2 }),
      headers: { 'content-type': 'application/json' },
      newConnections: false,
      cached: false,
      expectedStatus: 201,
    },
    graphql: {
      id: 'graphql',
      title: 'GraphQL query: 10 projects with 5 tasks each',
      method: 'POST',
      url: '/graphql',
      login: READER,
      body: JSON.stringify({ query: GRAPHQL_QUERY }),
      headers: { 'content-type': 'application/json' },
      newConnections: false,
      cached: false,
      expectedStatus: 200,
    },
    'new-tls': {
      id: 'new-tls',
      title: 'New connection per request: GET /health (Connection: close)',
      method: 'GET',
      url: '/health',
      login: undefined,
      headers: { connection: 'close' },
      newConnections: true,
      cached: false,
      expectedStatus: 200,
    },
  }
}
