// A node-postgres query sent in one network write behind `BEGIN` and `set_config('app.tenant_id', …, TRUE)`:
// the first statement of a tenant's unit of work costs one round trip, not three. The prelude's answers are
// consumed here; the caller sees the statement's result alone, or the first error (later messages up to Sync
// are skipped by the server, so a failed prelude never runs the statement).
// @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING
import pg from 'pg'

type QueryConnection = Parameters<pg.Submittable['submit']>[0] & {
  parse(query: { text: string, name?: string }): void
  bind(config: { values?: unknown[] }): void
  execute(config: Record<string, never>): void
}

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, TRUE)"
// BEGIN answers CommandComplete; set_config a DataRow and CommandComplete (no RowDescription: it is not described).
const PRELUDE_STATEMENTS = 2

// pg's Query is public (pg.Query) but typed as a bare Submittable; these are the parts of it this class uses.
interface PgQuery extends pg.Submittable {
  handleRowDescription(message: unknown): void
  handleDataRow(message: unknown): void
  handleCommandComplete(message: unknown, connection: unknown): void
  requiresPreparation(): boolean
  prepare(connection: QueryConnection): void
}
const Query = pg.Query as unknown as new (config: pg.QueryConfig & { rowMode?: string, types?: unknown }, values?: unknown, callback?: (error: Error | null, result: pg.QueryResult) => void) => PgQuery

export class PreludedQuery extends Query {
  #preludeLeft = PRELUDE_STATEMENTS
  readonly #tenantId: string

  constructor (config: pg.QueryConfig, tenantId: string, callback: (error: Error | null, result: pg.QueryResult) => void) {
    super(config, undefined, callback)
    this.#tenantId = tenantId
  }

  // Always the extended protocol: a simple Query message would carry its own implicit Sync.
  override requiresPreparation (): boolean {
    return true
  }

  override prepare (connection: QueryConnection): void {
    connection.parse({ text: 'BEGIN' })
    connection.bind({})
    connection.execute({})
    connection.parse({ text: SET_TENANT })
    connection.bind({ values: [this.#tenantId] })
    connection.execute({})
    super.prepare(connection)
  }

  override handleDataRow (message: unknown): void {
    if (this.#preludeLeft === 0) super.handleDataRow(message)
  }

  override handleCommandComplete (message: unknown, connection: unknown): void {
    if (this.#preludeLeft > 0) this.#preludeLeft--
    else super.handleCommandComplete(message, connection)
  }
}
