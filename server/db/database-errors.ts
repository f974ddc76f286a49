// Which database failures are the client's doing, which mean "retry later", and which are bugs.
import { Prisma } from './prisma-client.js'

// Connection-level failures: server down, pool exhausted, connection dropped, timed out.
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028'])
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57P'] // connection exception, insufficient resources, operator intervention
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'])

export type DatabaseFailure =
  | { kind: 'unavailable' }
  | { kind: 'not-found' }
  | { kind: 'conflict', detail: string }
  | { kind: 'invalid', detail: string }
  | { kind: 'other' }

function sqlState (error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: string, code?: string } } } }).meta
  const cause = meta?.driverAdapterError?.cause
  return cause?.originalCode ?? (typeof cause?.code === 'string' && /^[0-9A-Z]{5}$/.test(cause.code) ? cause.code : undefined)
}

function causeChainHasCode (error: unknown, codes: Set<string>): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && codes.has(code)) return true
    const kind = (current as { kind?: unknown }).kind
    if (kind === 'DatabaseNotReachable' || kind === 'SocketTimeout' || kind === 'ConnectionClosed' || kind === 'TooManyConnections') return true
    current = (current as { cause?: unknown }).cause ?? (current as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError
  }
  return false
}

export function classifyDatabaseError (error: unknown): DatabaseFailure {
  if (error instanceof Prisma.PrismaClientInitializationError) return { kind: 'unavailable' }
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    if (UNAVAILABLE_PRISMA_CODES.has(error.code)) return { kind: 'unavailable' }
    if (error.code === 'P2025') return { kind: 'not-found' }
    if (error.code === 'P2002') return { kind: 'conflict', detail: 'A record with the same unique value exists' }
    if (error.code === 'P2003') return { kind: 'conflict', detail: 'A referenced record does not exist' }
    if (error.code === 'P2000') return { kind: 'invalid', detail: 'A value is too long for its field' }
    const state = sqlState(error)
    // A row-level-security refusal means the row belongs to someone else: as far as this tenant knows, it does not exist.
    if (state === '42501') return { kind: 'not-found' }
    if (state === '23514') return { kind: 'invalid', detail: 'A value is outside its allowed range' }
    if (state !== undefined && UNAVAILABLE_SQLSTATE_CLASSES.some((prefix) => state.startsWith(prefix))) return { kind: 'unavailable' }
  }
  if (causeChainHasCode(error, UNAVAILABLE_NODE_CODES)) return { kind: 'unavailable' }
  return { kind: 'other' }
}
