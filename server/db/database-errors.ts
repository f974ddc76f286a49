// Which database failures are the client's doing, which mean "retry later", and which are bugs.
import { Errors } from '../../common/problem.ts'
import { Prisma } from './prisma-client.ts'

// Connection-level failures: server down, pool exhausted, connection dropped, timed out.
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028'])
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57P'] // connection exception, insufficient resources, operator intervention
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'])
const UNAVAILABLE_ADAPTER_KINDS = new Set([
  'DatabaseNotReachable',
  'SocketTimeout',
  'ConnectionClosed',
  'TooManyConnections',
])
// node-postgres reports a lost or unobtainable connection as a plain Error with no code, and Prisma's pg
// adapter passes such errors through untranslated: a connection cut mid-query (server stopped or killed),
// a connect or pool checkout that timed out, a client or pool already closed. Only the message tells.
const UNAVAILABLE_PG_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool',
])

export type DatabaseFailure =
  | { kind: 'unavailable' }
  | { kind: 'not-found' }
  | { kind: 'conflict'; detail: string }
  | { kind: 'invalid'; detail: string }
  | { kind: 'other' }

function sqlState(error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: string; code?: string } } } }).meta
  const cause = meta?.driverAdapterError?.cause
  return (
    cause?.originalCode ??
    (typeof cause?.code === 'string' && /^[0-9A-Z]{5}$/.test(cause.code) ? cause.code : undefined)
  )
}

const SQLSTATE = /^[0-9A-Z]{5}$/

const isUnavailableState = (state: unknown): boolean =>
  typeof state === 'string' && UNAVAILABLE_SQLSTATE_CLASSES.some(prefix => state.startsWith(prefix))

function causeChainShowsLostConnection(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== null && typeof current === 'object'; depth++) {
    const { code, kind, message, originalCode } = current as {
      code?: unknown
      kind?: unknown
      message?: unknown
      originalCode?: unknown
    }
    if (typeof code === 'string' && UNAVAILABLE_NODE_CODES.has(code)) return true
    if (typeof kind === 'string' && UNAVAILABLE_ADAPTER_KINDS.has(kind)) return true
    // Prisma rethrows a failed COMMIT or ROLLBACK as the adapter's own error, unwrapped: its cause carries
    // the SQLSTATE, e.g. 57P01 when a server shutting down ends the connection as COMMIT is sent.
    if (isUnavailableState(originalCode)) return true
    // A tenant lane's own COMMIT or ROLLBACK (tenant-lanes.ts) fails with node-postgres' error as it is: the SQLSTATE
    // in code.
    if (typeof code === 'string' && SQLSTATE.test(code) && isUnavailableState(code)) return true
    if (code === undefined && typeof message === 'string' && UNAVAILABLE_PG_MESSAGES.has(message)) return true
    current =
      (current as { cause?: unknown }).cause ??
      (current as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError
  }
  return false
}

export function classifyDatabaseError(error: unknown): DatabaseFailure {
  if (error instanceof Prisma.PrismaClientInitializationError) return { kind: 'unavailable' }
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    if (UNAVAILABLE_PRISMA_CODES.has(error.code)) return { kind: 'unavailable' }
    if (error.code === 'P2025') return { kind: 'not-found' }
    if (error.code === 'P2002') return { kind: 'conflict', detail: 'A record with the same unique value exists' }
    if (error.code === 'P2003') return { kind: 'conflict', detail: 'A referenced record does not exist' }
    if (error.code === 'P2000') return { kind: 'invalid', detail: 'A value is too long for its field' }
    const state = sqlState(error)
    // A row-level-security refusal means the row belongs to someone else: as far as this tenant knows, it does not
    // exist.
    if (state === '42501') return { kind: 'not-found' }
    if (state === '23514') return { kind: 'invalid', detail: 'A value is outside its allowed range' }
    if (isUnavailableState(state)) return { kind: 'unavailable' }
  }
  if (causeChainShowsLostConnection(error)) return { kind: 'unavailable' }
  return { kind: 'other' }
}

/** For a .catch: a record that does not exist or is not this tenant's becomes the API's 404 for `what`. */
export const notFoundAs =
  (what: string) =>
  (error: unknown): never => {
    if (classifyDatabaseError(error).kind === 'not-found') throw new Errors.NotFound(what)
    throw error
  }
