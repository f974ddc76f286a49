// A tenant's unit of work on Postgres as a lane of the pool: an async context whose statements (Prisma's, via
// pool.query) share one connection and transaction, BEGIN and set_config('app.tenant_id', …, TRUE) sent with the
// first (preluded-query.ts). Cheaper than Prisma's interactive transaction; statements outside a lane see no tenant.
import { AsyncLocalStorage } from 'node:async_hooks'
import pg from 'pg'
import { PreludedQuery } from './preluded-query.ts'

type QueryResult = pg.QueryResult
const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK)\b/i

class LaneExpiredError extends Error {
  readonly code = 'ETIMEDOUT'
  constructor(timeoutMs: number) {
    super(`The unit of work held its database connection past ${timeoutMs} ms`)
    this.name = 'LaneExpiredError'
  }
}

class MoreThanOneStatementError extends Error {
  constructor() {
    super(
      'A unit of work given as one Prisma operation sent a second statement after its first was committed: ' +
        'write the work as an async function so that its statements share one transaction',
    )
    this.name = 'MoreThanOneStatementError'
  }
}

class UnitOfWorkFailedError extends Error {
  constructor() {
    super('A statement of the unit of work failed and was not rethrown: the transaction was rolled back')
    this.name = 'UnitOfWorkFailedError'
  }
}

/** One unit of work: its tenant, its connection once the first statement asks for one, and how it ends. */
class Lane {
  #client: Promise<pg.PoolClient> | undefined
  #held: pg.PoolClient | undefined
  #preludeSent = false
  #expired: LaneExpiredError | undefined
  #timer: NodeJS.Timeout | undefined
  #committed = false
  /** A statement of this lane failed, or Prisma rolled back a transaction of its own inside it. */
  rollbackOnly = false
  /** The work is one Prisma operation, not yet started (not an async function of several). */
  oneOperation = false
  /** Prisma began a transaction of its own within the lane (an operation of several statements). */
  nestedTransaction = false

  readonly tenantId: string
  private readonly pool: TenantLanePool
  private readonly timeoutMs: number
  constructor(tenantId: string, pool: TenantLanePool, timeoutMs: number) {
    this.tenantId = tenantId
    this.pool = pool
    this.timeoutMs = timeoutMs
  }

  async query(config: pg.QueryConfig): Promise<QueryResult> {
    if (this.#preludeSent && this.#singleStatement()) throw new MoreThanOneStatementError()
    const first = !this.#preludeSent
    this.#preludeSent = true
    const client = await this.#connection()
    if (this.#expired !== undefined) throw this.#expired
    if (!first) return client.query(config)
    const commit = this.#singleStatement()
    return new Promise((resolve, reject) => {
      client.query(
        new PreludedQuery(config, { tenantId: this.tenantId, commit }, (error, result) => {
          if (error !== null) {
            reject(error)
            return
          }
          this.#committed = commit
          resolve(result)
        }),
      )
    })
  }

  /** One Prisma operation that opened no transaction of its own: its statement carries COMMIT along. */
  #singleStatement(): boolean {
    return this.oneOperation && !this.nestedTransaction
  }

  #connection(): Promise<pg.PoolClient> {
    this.#client ??= this.pool.checkout().then(client => {
      this.#held = client
      // A checked-out client's connection errors are emitted on it; the lane's next statement reports them.
      client.on('error', ignoreHeldClientError)
      this.#timer = setTimeout(() => this.#expire(), this.timeoutMs).unref()
      return client
    })
    return this.#client
  }

  #expire(): void {
    this.#expired = new LaneExpiredError(this.timeoutMs)
    // Whatever runs on it fails as a lost connection; the pool opens a fresh one for the next request.
    this.#held?.connection.stream.destroy()
  }

  /** COMMIT (or ROLLBACK when something failed) and give the connection back; nothing to do if none was taken. */
  async end(outcome: 'commit' | 'rollback'): Promise<void> {
    if (this.#client === undefined) return
    const client = await this.#client.catch(() => undefined)
    if (client === undefined) return
    clearTimeout(this.#timer)
    if (this.#committed) {
      client.removeListener('error', ignoreHeldClientError)
      client.release()
      return
    }
    try {
      if (this.#expired !== undefined) throw this.#expired
      const commit = outcome === 'commit' && !this.rollbackOnly
      await client.query(commit ? 'COMMIT' : 'ROLLBACK')
      client.removeListener('error', ignoreHeldClientError)
      client.release()
      // Postgres answers COMMIT of a failed transaction with a silent rollback: work that swallowed a failed
      // statement must not be reported as saved.
      if (outcome === 'commit' && !commit) throw new UnitOfWorkFailedError()
    } catch (error) {
      if (error instanceof UnitOfWorkFailedError) throw error
      client.removeListener('error', ignoreHeldClientError)
      // A connection whose transaction did not end cleanly is destroyed, never pooled.
      client.release(error as Error)
      throw error
    }
  }
}

function ignoreHeldClientError(): void {}

const isPrismaPromise = (value: unknown): boolean =>
  (value as { [Symbol.toStringTag]?: unknown } | null)?.[Symbol.toStringTag] === 'PrismaPromise'

/**
 * A statement Prisma meant for a transaction of its own (startTransaction) inside a lane: it joins the lane's
 * transaction. BEGIN and COMMIT are the lane's to send; a ROLLBACK makes the lane roll back at its end.
 */
function nestedClient(lane: Lane): pg.PoolClient {
  const empty: QueryResult = { command: '', rowCount: 0, oid: 0, fields: [], rows: [] }
  return {
    async query(config: pg.QueryConfig) {
      const control = TRANSACTION_CONTROL.exec(config.text)?.[1]?.toUpperCase()
      if (control === undefined) return lane.query(config)
      if (control === 'ROLLBACK') lane.rollbackOnly = true
      return empty
    },
    release() {},
    on() {
      return this
    },
    removeListener() {
      return this
    },
  } as unknown as pg.PoolClient
}

export class TenantLanePool extends pg.Pool {
  readonly #lanes = new AsyncLocalStorage<Lane>()

  private readonly laneTimeoutMs: number
  /** `laneTimeoutMs`: how long one unit of work may hold its connection. */
  constructor(config: pg.PoolConfig, laneTimeoutMs: number) {
    super(config)
    this.laneTimeoutMs = laneTimeoutMs
  }

  /** Runs `work` as one transaction of `tenantId`: every statement it issues through this pool joins it. */
  async inLane<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const lane = new Lane(tenantId, this, this.laneTimeoutMs)
    let result: T
    try {
      result = await this.#lanes.run(lane, () => {
        const pending = work()
        lane.oneOperation = isPrismaPromise(pending)
        // Awaited inside the lane: Prisma's operations are lazy and start when first awaited.
        return (async () => await pending)()
      })
    } catch (error) {
      await lane.end('rollback').catch(() => {})
      throw error
    }
    await lane.end('commit')
    return result
  }

  /** A connection for a lane, bypassing the lane routing of connect(). */
  checkout(): Promise<pg.PoolClient> {
    return super.connect()
  }

  override query(...args: any[]): any {
    const lane = this.#lanes.getStore()
    if (lane === undefined || typeof args[0] !== 'object' || args.some(arg => typeof arg === 'function')) {
      return (super.query as (...a: unknown[]) => unknown)(...args)
    }
    const given = args[0] as pg.QueryConfig
    const config = args[1] === undefined ? given : { ...given, values: args[1] as unknown[] }
    return lane.query(config).catch((error: unknown) => {
      lane.rollbackOnly = true
      throw error
    })
  }

  override connect(...args: any[]): any {
    const lane = this.#lanes.getStore()
    if (lane === undefined || args.length > 0) return (super.connect as (...a: unknown[]) => unknown)(...args)
    lane.nestedTransaction = true
    return Promise.resolve(nestedClient(lane))
  }
}
