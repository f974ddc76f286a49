// The reference's two ways of keeping tenants apart: under RLS one simple query with every value a literal (no
// tenant condition: the policy adds it); on the superuser a parameterised statement filtered by tenant_id = $1.
import t from 'tap'
import { sql } from '../../../bench/api/reference-sql.ts'

const TENANT = '0190a000-0000-7000-8000-000000000001'
const ID = '0190a000-0000-7000-8000-000000000002'

t.test('under RLS, values are inlined as escaped literals and the policy is the only tenant filter', async t => {
  const get = sql.getProject('rls', TENANT, ID)
  t.same(get.values, [])
  t.match(get.text, `WHERE p.id = '${ID}'`)
  t.notMatch(get.text, /tenant_id|\$\d/)
  const created = sql.createProject('rls', TENANT, { id: ID, name: "O'Brien \\ co", description: null })
  // pg's escapeLiteral writes a string holding a backslash as E'…' (with a space before it).
  t.match(created.text, `VALUES ('${ID}', '${TENANT}',  E'O''Brien \\\\ co', NULL, now())`)
  t.same(created.values, [])
})

t.test('WHERE only: the tenant is $1 in every WHERE, values are parameters', async t => {
  const update = sql.updateProject('where-clause', TENANT, ID, { name: 'Renamed 1' })
  t.same(update.values, [TENANT, 'Renamed 1', ID])
  t.match(update.text, 'SET name = $2, updated_at = now() WHERE p.tenant_id = $1 AND p.id = $3 RETURNING')
  const graph = sql.projectsWithTasks('where-clause', TENANT, 10, 5)
  t.same(graph.values, [TENANT])
  t.match(graph.text, 'WHERE p.tenant_id = $1 ORDER BY p.created_at, p.id LIMIT 11')
  t.match(graph.text, 'WHERE t.tenant_id = $1 AND t.project_id = p.id ORDER BY t.created_at, t.id LIMIT 5')
  const list = sql.listProjects('where-clause', TENANT, 20)
  t.match(list.text, 'LIMIT 21')
})

t.test('a limit that is not an integer never reaches the SQL', async t => {
  t.throws(() => sql.listProjects('rls', TENANT, 1.5), /not an integer/)
})
