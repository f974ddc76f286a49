// The API's database connections are visible to Prometheus: a pg pool's own counts on Postgres, PGlite's
// single connection on the embedded database, read when /metrics is scraped.
import t from 'tap'
import { forEachBackend } from '../../helpers/backends.ts'
import { buildTestApp, callerFor } from '../../helpers/build-app.ts'

const sample = (text: string, state: string): number | undefined => {
  const match = new RegExp(`^gatehouse_db_pool_connections\\{state="${state}"\\} (\\d+)$`, 'm').exec(text)
  return match === null ? undefined : Number(match[1])
}

forEachBackend(t, async (t, backend) => {
  const app = await buildTestApp(t, backend)
  const caller = callerFor(app, await backend.createTenant())
  t.equal((await caller.get('/api/v1/projects')).statusCode, 200)
  const text = (await app.inject({ url: '/metrics' })).body
  const total = sample(text, 'total')
  t.ok(total !== undefined && total >= 1, `at least the connection just used is counted (${total})`)
  t.ok(sample(text, 'idle')! <= total!, 'idle connections are among the open ones')
  t.equal(sample(text, 'waiting'), 0, 'nothing waits for a connection when idle')
  if (backend.name === 'pglite') t.equal(total, 1, 'PGlite is one in-process connection')
})
