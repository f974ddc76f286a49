// GraphQL while the database is away answers as REST does: 503 with Retry-After and the
// GH_DATABASE_UNAVAILABLE code (in GraphQL's own error format), so clients and the edge know to come back
// later instead of taking it for a bug. The API reaches the real Postgres through a relay that cuts every
// connection on demand; the tenant is looked up (and cached) before the cut, so the failure happens where
// resolvers meet the database.
import pg from 'pg'
import t from 'tap'
import { buildApp } from '../../../server/app.ts'
import { loadServerConfig } from '../../../server/config.ts'
import { migrate } from '../../../server/db/migrate.ts'
import { createTenant } from '../../../server/db/seed.ts'
import { pgSession } from '../../../server/db/sql-session.ts'
import { postgresUrls, uniqueSlug } from '../../helpers/backends.ts'
import { callerFor, TEST_IDENTITY_SECRET } from '../../helpers/build-app.ts'
import { relayPostgres } from '../../helpers/faulty-relay.ts'

const urls = postgresUrls()

t.test(
  'queries and mutations get 503 with Retry-After while the database is unreachable, and 200 once it is back',
  {
    skip: urls === undefined ? 'needs DATABASE_URL and DATABASE_OWNER_URL (real Postgres)' : false,
  },
  async t => {
    const owner = new pg.Client({ connectionString: urls!.owner })
    await owner.connect()
    const slug = uniqueSlug('gql-down')
    // Run alone on a fresh database, no other test has migrated it yet.
    const tenantId = await migrate(pgSession(owner))
      .then(() => createTenant(pgSession(owner), { slug, name: 'GraphQL outage', plan: 'free' }))
      .finally(() => owner.end())

    const { relay, url: through } = await relayPostgres(t, urls!.app)
    const app = await buildApp({
      ...loadServerConfig({ IDENTITY_SECRET: TEST_IDENTITY_SECRET, LOG_LEVEL: 'silent' }),
      database: { kind: 'postgres', url: through, poolMax: 2, connectTimeoutMs: 2000, statementTimeoutMs: 2000 },
    })
    t.teardown(() => app.close())
    const caller = callerFor(app, { id: tenantId, slug })
    const read = '{ projects(first: 5) { nodes { id } } }'
    t.equal((await caller.graphql(read)).statusCode, 200, 'served while the database answers')

    relay.cut()
    for (const [what, query] of [
      ['a query', read],
      ['a mutation', 'mutation { createProject(input: { name: "Lost" }) { id } }'],
    ] as const) {
      const response = await caller.graphql(query)
      t.equal(response.statusCode, 503, what)
      t.equal(response.headers['retry-after'], '5', `${what}: with Retry-After`)
      t.match(response.json(), {
        data: null,
        errors: [
          {
            message: 'The database is unavailable; retry shortly',
            extensions: { code: 'GH_DATABASE_UNAVAILABLE', status: 503 },
          },
        ],
      })
    }
    const rest = await caller.get('/api/v1/projects')
    t.equal(rest.statusCode, 503, 'REST says the same')
    t.equal(rest.headers['retry-after'], '5')

    relay.restore()
    t.equal((await caller.graphql(read)).statusCode, 200, 'and GraphQL serves again once the database is reachable')
  },
)
