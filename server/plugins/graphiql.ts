// The GraphiQL playground at /graphiql, served entirely from this app (mercurius' own page loads React
// and GraphiQL from a CDN, which an offline machine or a strict CSP refuses). No inline script or style,
// so a `default-src 'self'` policy holds. Not wrapped in fastify-plugin: its routes are its own.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'

const require = createRequire(import.meta.url)
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`))

const ASSETS: Record<string, { path: () => string; type: string }> = {
  'react.js': {
    path: () => join(packageDir('react'), 'umd/react.production.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'react-dom.js': {
    path: () => join(packageDir('react-dom'), 'umd/react-dom.production.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'graphiql.js': {
    path: () => join(packageDir('graphiql'), 'graphiql.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'graphiql.css': { path: () => join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css; charset=utf-8' },
}

// The endpoint is resolved against the page's own URL, so a proxy serving the API under a prefix
// (/prefix/graphiql) gets /prefix/graphql.
const START_SCRIPT = `
const root = ReactDOM.createRoot(document.getElementById('graphiql'))
const fetcher = GraphiQL.createFetcher({ url: new URL('graphql', window.location.href).pathname })
root.render(React.createElement(GraphiQL, {
  fetcher,
  defaultEditorToolsVisibility: true,
  defaultQuery: '# Projects of your tenant, with their first tasks\\nquery {\\n  viewer { user tenant { slug name plan } }\\n  projects(first: 10) {\\n    nodes { id name tasks(first: 5) { title status priority dueDate } }\\n    next\\n  }\\n}\\n',
}))
`

const PAGE_STYLE = 'body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }\n'

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Gatehouse GraphiQL</title>
  <link rel="stylesheet" href="graphiql/assets/graphiql.css">
  <link rel="stylesheet" href="graphiql/assets/page.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="graphiql/assets/react.js"></script>
  <script src="graphiql/assets/react-dom.js"></script>
  <script src="graphiql/assets/graphiql.js"></script>
  <script src="graphiql/assets/start.js"></script>
</body>
</html>
`

export default async function graphiql(app: FastifyInstance): Promise<void> {
  const loaded = new Map<string, Buffer>()

  app.get('/graphiql', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(PAGE),
  )

  // The page's references are relative to /graphiql, so /graphiql/ (as people type it, and as /docs/ is) goes
  // there; a relative Location keeps any prefix the app is mounted under.
  app.get('/graphiql/', { schema: { hide: true } }, async (_request, reply) =>
    reply.code(308).header('location', '../graphiql').send(),
  )

  app.get<{ Params: { file: string } }>(
    '/graphiql/assets/:file',
    { schema: { hide: true } },
    async (request, reply) => {
      const { file } = request.params
      if (file === 'start.js') {
        return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(START_SCRIPT)
      }
      if (file === 'page.css') {
        return reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(PAGE_STYLE)
      }
      // Own keys only: `constructor` or `__proto__` must be a 404, not an inherited property.
      const asset = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined
      if (asset === undefined) return reply.callNotFound()
      let body = loaded.get(file)
      if (body === undefined) {
        body = await readFile(asset.path())
        loaded.set(file, body)
      }
      // The versions are pinned in package-lock.json; an upgrade changes the ETag.
      return reply.type(asset.type).header('cache-control', 'public, max-age=86400').send(body)
    },
  )
}
