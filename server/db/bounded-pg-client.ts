// A node-postgres client whose queries cannot wait forever on a server that stopped answering (a frozen
// or overloaded host, or one cut off without a reset). statement_timeout bounds a slow query on a live
// server, which cancels it itself; nothing bounds a query whose server never answers: TCP keeps the idle
// socket open, and Prisma's transaction timeout waits for the running query before closing anything.
// pg's own query_timeout is no cure: it fails the query but keeps the connection, still busy with the
// lost query, and the pool hands it out again, so every later query on it queues behind a dead one.
// Past the bound the connection is destroyed instead, as if the server had gone: every query on it fails
// as a lost connection (503), and the pool drops it and opens a fresh one for the next request.
import pg from 'pg'

type AnyCallback = (...args: unknown[]) => void

export function boundedPgClient(answerTimeoutMs: number): typeof pg.Client {
  return class BoundedPgClient extends pg.Client {
    override query(...args: any[]): any {
      const submittable = typeof args[0]?.submit === 'function' ? (args[0] as { callback?: AnyCallback }) : undefined
      // A Submittable that reads on its own (pg-cursor, pg-query-stream) is left as it is; one with a
      // callback (a tenant lane's preluded query) is bounded like any query.
      if (submittable !== undefined && typeof submittable.callback !== 'function') {
        return (super.query as (...a: unknown[]) => unknown)(...args)
      }
      let timer: NodeJS.Timeout | undefined
      const settled = (): void => clearTimeout(timer)
      // pg-pool's pool.query passes a callback (and pg then returns nothing); Prisma's transactions await a promise.
      const callbackIndex = args.findLastIndex(arg => typeof arg === 'function')
      if (submittable !== undefined) {
        const callback = submittable.callback!
        submittable.callback = (...results: unknown[]) => {
          settled()
          callback(...results)
        }
      } else if (callbackIndex >= 0) {
        const callback = args[callbackIndex] as AnyCallback
        args[callbackIndex] = (...results: unknown[]) => {
          settled()
          callback(...results)
        }
      }
      const result = (super.query as (...a: unknown[]) => unknown)(...args)
      if (submittable === undefined && callbackIndex < 0) (result as Promise<unknown>).then(settled, settled)
      // pg settles a query on a later tick at the earliest (even one it refuses), so this is set before it can be
      // cleared.
      timer = setTimeout(() => {
        // The same handle pg-pool uses to abandon a connect that timed out: 'close' → "Connection terminated
        // unexpectedly" for every queued query, the client marked unusable, one 'error' event.
        this.connection.stream.destroy()
      }, answerTimeoutMs).unref()
      return result
    }
  }
}
