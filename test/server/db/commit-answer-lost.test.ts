// A write whose COMMIT reached the database but whose answer never came back: the API cannot know whether
// it committed, so it must not say it did (no 2xx) nor call it a bug (no 500). It answers 503 with
// Retry-After — and the row exists. That is the one case where a refused write is stored, and it is
// allowed: only acknowledged writes are promised; a client that must not create twice checks before it
// retries. The relay in front of the real Postgres holds back every answer from the moment the API sends
// COMMIT, until the API gives up on the silent connection.
import pg from 'pg'
import t from 'tap'
import { buildApp } from '../../../server/app.ts'
import { loadServerConfig } from '../../../server/config.ts'
import { createTenant } from '../../../server/db/seed.ts'
import { pgSession } from '../../../server/db/sql-session.ts'
import { postgresUrls, uniqueSlug } from '../../helpers/backends.ts'
import { callerFor, TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'
import { relayPostgres } from '../../helpers/faulty-relay.ts'

const urls = postgresUrls()

t.test(
  'a create whose COMMIT answer is lost gets 503 with Retry-After, though its row was stored once',
  {
    skip: urls === undefined ? 'needs DATABASE_URL and DATABASE_OWNER_URL (real Postgres)' : false,
  },
  async t => {
    const owner = new pg.Pool({ connectionString: urls!.owner, max: 1 })
    t.teardown(() => owner.end())
    const slug = uniqueSlug('commit-lost')
    const client = await owner.connect()
    const tenantId = await createTenant(pgSession(client), { slug, name: 'Lost answer', plan: 'free' }).finally(() =>
      client.release(),
    )

    const { relay, url: through } = await relayPostgres(t, urls!.app)
    const app = await buildApp({
      ...loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET, LOG_LEVEL: 'silent' }),
      database: { kind: 'postgres', url: through, poolMax: 2, connectTimeoutMs: 1000, statementTimeoutMs: 500 },
    })
    t.teardown(() => app.close())
    t.teardown(() => relay.resume())
    const caller = callerFor(app, { id: tenantId, slug })
    t.equal((await caller.get('/api/v1/projects')).statusCode, 200, 'the tenant is known (and cached) before the fault')

    relay.loseRepliesAfter('COMMIT')
    const created = await caller.post('/api/v1/projects', { name: 'Committed, never confirmed' })
    t.equal(created.statusCode, 503)
    t.equal(created.headers['retry-after'], '5')
    t.match(created.json(), { code: 'GH_DATABASE_UNAVAILABLE' })

    const rows = await owner.query('SELECT name FROM projects WHERE tenant_id = $1', [tenantId])
    t.strictSame(rows.rows, [{ name: 'Committed, never confirmed' }], 'the write was stored, once')
    relay.resume()
    t.equal((await caller.get('/api/v1/projects')).statusCode, 200, 'and the API serves again')
  },
)
