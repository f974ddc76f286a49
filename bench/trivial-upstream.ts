// The edge-overhead section's upstream: one node:http process answering every path at once with the same ~1 KB
// of JSON, so that what the section measures is the edge in front of it. Run by the bench
// (bench/targets/trivial-upstream.ts) with TRIVIAL_PORT; never a way to run the edge.
import { createServer, type OutgoingHttpHeaders, type Server } from 'node:http'
import { resolve } from 'node:path'
import { Type } from 'typebox'
import { loadEnvConfig } from '../common/env-config.ts'

/** Shareable for a minute (what the edges' caches may keep): every answer but `?cache=no`'s. */
export const CACHEABLE = 'public, max-age=60'
export const UNCACHEABLE = 'no-store'

// Eight made-up projects: a body of the size and shape of a small API list page, built once.
const BODY = Buffer.from(
  JSON.stringify({
    items: Array.from({ length: 8 }, (_, index) => ({
      id: `00000000-0000-4000-8000-00000000000${index}`,
      name: `Project ${index}`,
      status: 'active',
      createdAt: '2026-01-01T00:00:00.000Z',
    })),
    next: null,
  }),
)

// A page of 20 projects as the API lists them (GET /api/v1/projects): the body of the compression loads.
export const PROJECT_PAGE = Buffer.from(
  JSON.stringify({
    items: Array.from({ length: 20 }, (_, index) => ({
      id: `0190a3b2-7c4d-7e8f-9a0b-${String(index).padStart(12, '0')}`,
      name: `Project ${index} of the platform team`,
      description:
        index % 3 === 0 ? null : `Tracks the work of milestone ${index}: design, rollout and the follow-up tasks.`,
      createdAt: `2026-01-${String(1 + index).padStart(2, '0')}T09:30:00.000Z`,
      updatedAt: `2026-02-${String(1 + index).padStart(2, '0')}T16:45:12.345Z`,
    })),
    limit: 20,
    next: 'MDE5MGEzYjItN2M0ZC03ZThmLTlhMGItMDAwMDAwMDAwMDE5',
  }),
)

export const PAGE_ETAG = '"page-v1"'

export interface TrivialAnswer {
  status: number
  headers: OutgoingHttpHeaders
  body: Buffer
}

const answer = (cacheControl: string): TrivialAnswer => ({
  status: 200,
  headers: {
    'content-type': 'application/json; charset=utf-8',
    'content-length': BODY.length,
    'cache-control': cacheControl,
  },
  body: BODY,
})
const pageAnswer = (cacheControl: string): TrivialAnswer => ({
  status: 200,
  headers: {
    'content-type': 'application/json; charset=utf-8',
    'content-length': PROJECT_PAGE.length,
    'cache-control': cacheControl,
    // A strong validator, as the API's reads carry: every edge that codes the page must weaken or suffix it.
    etag: PAGE_ETAG,
  },
  body: PROJECT_PAGE,
})
const ANSWERS = {
  cacheable: answer(CACHEABLE),
  uncacheable: answer(UNCACHEABLE),
  pageCacheable: pageAnswer(CACHEABLE),
  pageUncacheable: pageAnswer(UNCACHEABLE),
}

/**
 * What any request gets: the same body (the 20-project page with body=page), `no-store` when its query has
 * cache=no. The identity headers the edges add are accepted unchecked: verifying them is the API's work.
 */
export function trivialAnswer(url: string): TrivialAnswer {
  const query = url.indexOf('?')
  if (query === -1) return ANSWERS.cacheable
  const parameters = new URLSearchParams(url.slice(query + 1))
  const uncacheable = parameters.get('cache') === 'no'
  if (parameters.get('body') === 'page') return uncacheable ? ANSWERS.pageUncacheable : ANSWERS.pageCacheable
  return uncacheable ? ANSWERS.uncacheable : ANSWERS.cacheable
}

export function createTrivialUpstream(): Server {
  const server = createServer((request, response) => {
    const { status, headers, body } = trivialAnswer(request.url ?? '/')
    // A request body (none in the section's loads) is read and dropped, so the connection stays usable.
    request.resume()
    response.writeHead(status, headers)
    response.end(body)
  })
  // Longer than any edge's idle keep-alive to it, so the edge, never this end, closes an idle connection.
  server.keepAliveTimeout = 120_000
  return server
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  const Settings = Type.Object({ TRIVIAL_PORT: Type.Integer({ minimum: 1, maximum: 65535 }) })
  const settings = loadEnvConfig(Settings, process.env)
  const server = createTrivialUpstream()
  server.listen(settings.TRIVIAL_PORT, '127.0.0.1')
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}
