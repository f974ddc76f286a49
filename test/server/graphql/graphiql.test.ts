// The GraphiQL playground is served whole by the app: the page references only its own assets, which
// are the installed packages' files, so it works offline and under a same-origin-only CSP.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp } from '../../helpers/build-app.ts'

const require = createRequire(import.meta.url)
const installed = (name: string, file: string): Promise<Buffer> =>
  readFile(join(dirname(require.resolve(`${name}/package.json`)), file))

const attributes = (html: string, tag: string, attribute: string): string[] =>
  [...html.matchAll(new RegExp(`<${tag}\\b[^>]*\\b${attribute}="([^"]*)"`, 'g'))].map(match => match[1]!)

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)

  t.test('GET /graphiql is an HTML page whose scripts and styles all come from this app', async t => {
    const page = await app.inject({ method: 'GET', url: '/graphiql' })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
    const html = page.body
    const scripts = attributes(html, 'script', 'src')
    const styles = attributes(html, 'link', 'href')
    t.ok(scripts.length >= 4 && styles.length >= 1, 'the page loads its scripts and styles')
    // Every <script> has a src (nothing inline) and there is no <style> block, so `default-src 'self'` holds.
    t.equal((html.match(/<script\b/g) ?? []).length, scripts.length, 'no inline script')
    t.notMatch(html, /<style\b|\bstyle="/, 'no inline style')

    const base = 'http://127.0.0.1:3000/graphiql'
    for (const reference of [...scripts, ...styles]) {
      const url = new URL(reference, base)
      t.equal(url.origin, 'http://127.0.0.1:3000', `${reference} is same-origin, not a CDN`)
      const asset = await app.inject({ method: 'GET', url: url.pathname })
      t.equal(asset.statusCode, 200, `${url.pathname} is served`)
      const expected = reference.endsWith('.css') ? /^text\/css; charset=utf-8/ : /^text\/javascript; charset=utf-8/
      t.match(asset.headers['content-type'], expected, `${url.pathname} has the right content type`)
      t.ok(asset.rawPayload.length > 0, `${url.pathname} is not empty`)
    }
  })

  t.test("the library assets are the installed packages' files, cacheable, and reference nothing remote", async t => {
    const files: Array<[string, Promise<Buffer>]> = [
      ['react.js', installed('react', 'umd/react.production.min.js')],
      ['react-dom.js', installed('react-dom', 'umd/react-dom.production.min.js')],
      ['graphiql.js', installed('graphiql', 'graphiql.min.js')],
      ['graphiql.css', installed('graphiql', 'graphiql.min.css')],
    ]
    for (const [name, expected] of files) {
      const asset = await app.inject({ method: 'GET', url: `/graphiql/assets/${name}` })
      t.equal(asset.statusCode, 200, name)
      t.ok(asset.rawPayload.equals(await expected), `${name} is the installed file, byte for byte`)
      t.match(asset.headers['cache-control'], /max-age=\d+/, `${name} may be cached`)
      t.type(asset.headers.etag, 'string', `${name} has an ETag`)
    }
    const css = (await app.inject({ method: 'GET', url: '/graphiql/assets/graphiql.css' })).body
    t.notMatch(css, /url\(\s*['"]?(https?:)?\/\//, 'fonts and images are inlined, not fetched from elsewhere')
    t.notMatch(css, /@import/, 'no imported stylesheets')
  })

  t.test("the start script renders GraphiQL against this app's /graphql, prefix included", async t => {
    const script = (await app.inject({ method: 'GET', url: '/graphiql/assets/start.js' })).body
    for (const [page, endpoint] of [
      ['http://127.0.0.1:3000/graphiql', '/graphql'],
      ['https://edge.example/api/graphiql', '/api/graphql'],
    ] as const) {
      const seen: { fetcherUrl?: string; rendered?: unknown; root?: unknown } = {}
      const GraphiQL = Object.assign(function GraphiQL() {}, {
        createFetcher: (options: { url: string }) => {
          seen.fetcherUrl = options.url
          return 'fetcher'
        },
      })
      runInNewContext(script, {
        URL,
        window: { location: { href: page } },
        document: { getElementById: (id: string) => ({ id }) },
        React: { createElement: (type: unknown, props: Record<string, unknown>) => ({ type, props }) },
        ReactDOM: {
          createRoot: (element: unknown) => {
            seen.root = element
            return {
              render: (tree: unknown) => {
                seen.rendered = tree
              },
            }
          },
        },
        GraphiQL,
      })
      t.equal(seen.fetcherUrl, endpoint, `from ${page}`)
      t.same(seen.root, { id: 'graphiql' }, "mounts on the page's #graphiql element")
      t.match(seen.rendered, { type: GraphiQL, props: { fetcher: 'fetcher', defaultQuery: /projects\(first: 10\)/ } })
    }
  })

  t.test(
    '/graphiql/ leads to the page: a 308 to ../graphiql, which resolves to /graphiql under any prefix',
    async t => {
      const response = await app.inject({ method: 'GET', url: '/graphiql/' })
      t.equal(response.statusCode, 308)
      t.equal(new URL(response.headers.location as string, 'https://edge.example/graphiql/').pathname, '/graphiql')
      t.equal(
        new URL(response.headers.location as string, 'https://edge.example/prefix/graphiql/').pathname,
        '/prefix/graphiql',
      )
    },
  )

  t.test('anything else under /graphiql/assets is a 404 problem', async t => {
    for (const file of [
      'nope.js',
      'constructor',
      '__proto__',
      'toString',
      '..%2F..%2Fpackage.json',
      'graphiql.min.js.map',
    ]) {
      const response = await app.inject({ method: 'GET', url: `/graphiql/assets/${file}` })
      t.equal(response.statusCode, 404, file)
      t.match(response.headers['content-type'], /^application\/problem\+json/, file)
    }
  })

  t.test('GRAPHIQL=false removes the playground (and leaves /graphql alone)', async t => {
    const off = await buildTestApp(t, backend, { GRAPHIQL: 'false' })
    t.equal((await off.inject({ method: 'GET', url: '/graphiql' })).statusCode, 404)
    t.equal((await off.inject({ method: 'GET', url: '/graphiql/' })).statusCode, 404)
    t.equal((await off.inject({ method: 'GET', url: '/graphiql/assets/graphiql.js' })).statusCode, 404)
    t.equal(
      (await off.inject({ method: 'POST', url: '/graphql', payload: { query: '{ viewer { user } }' } })).statusCode,
      401,
    )
  })
})
