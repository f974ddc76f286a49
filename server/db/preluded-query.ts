// A node-postgres query sent in one network write behind `BEGIN` and `set_config('app.tenant_id', …, TRUE)`,
// and followed by COMMIT when it is the unit of work's only statement: the first statement of a tenant's unit
// of work costs one round trip, not three (or four). The other statements' answers are consumed here; the
// caller sees the statement's result alone, or the first error (the server skips every later message up to
// Sync, so a failed prelude never runs the statement, and a failed statement is never committed).
// @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING
import pg from 'pg'

type QueryConnection = Parameters<pg.Submittable['submit']>[0] & {
  sync(): void
  parse(query: { text: string; name?: string }): void
  bind(config: { values?: unknown[] }): void
  execute(config: { portal?: string; rows?: number }): void
}

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, TRUE)"
// BEGIN answers CommandComplete; set_config a DataRow and CommandComplete (no RowDescription: it is not
// described); then the statement, then COMMIT's CommandComplete.
const STATEMENT_INDEX = 2

// pg's Query is public (pg.Query) but typed as a bare Submittable; these are the parts of it this class uses.
interface PgQuery extends pg.Submittable {
  handleRowDescription(message: unknown): void
  handleDataRow(message: unknown): void
  handleCommandComplete(message: unknown, connection: unknown): void
  requiresPreparation(): boolean
  prepare(connection: QueryConnection): void
  _getRows(connection: QueryConnection, rows?: number): void
  readonly portal: string
}
type Callback = (error: Error | null, result: pg.QueryResult) => void
const Query = pg.Query as unknown as new (config: pg.QueryConfig, values?: unknown, callback?: Callback) => PgQuery

export class PreludedQuery extends Query {
  /** Which of BEGIN, set_config, the statement and COMMIT is answering. */
  #answering = 0
  readonly #tenantId: string
  readonly #commit: boolean

  constructor(config: pg.QueryConfig, options: { tenantId: string; commit: boolean }, callback: Callback) {
    super(config, undefined, callback)
    this.#tenantId = options.tenantId
    this.#commit = options.commit
  }

  // Always the extended protocol: a simple Query message would carry its own implicit Sync.
  override requiresPreparation(): boolean {
    return true
  }

  override prepare(connection: QueryConnection): void {
    connection.parse({ text: 'BEGIN' })
    connection.bind({})
    connection.execute({})
    connection.parse({ text: SET_TENANT })
    connection.bind({ values: [this.#tenantId] })
    connection.execute({})
    super.prepare(connection)
  }

  // pg's Query ends what prepare() sends with Execute and Sync here: COMMIT goes between them.
  override _getRows(connection: QueryConnection, rows?: number): void {
    if (!this.#commit || rows !== undefined) {
      super._getRows(connection, rows)
      return
    }
    connection.execute({ portal: this.portal })
    connection.parse({ text: 'COMMIT' })
    connection.bind({})
    connection.execute({})
    connection.sync()
  }

  override handleDataRow(message: unknown): void {
    if (this.#answering === STATEMENT_INDEX) super.handleDataRow(message)
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.#answering++ === STATEMENT_INDEX) super.handleCommandComplete(message, connection)
  }
}
