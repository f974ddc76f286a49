// Cursor (keyset) pagination: the cursor names the last row's sort value and id, so pages stay
// stable while rows are inserted or deleted, and each page is one index range scan, never an OFFSET.
import { Errors } from '../../common/problem.ts'
import { isoTimestamp } from './iso-timestamp.ts'

export type SortValue = string | number | Date | null

export interface SortSpec {
  field: string
  direction: 'asc' | 'desc'
  /** Nullable sort fields put rows without a value last, whichever the direction. */
  nullable: boolean
  kind: 'date' | 'number' | 'string'
}

export function parseSort(sort: string, fields: Record<string, Pick<SortSpec, 'nullable' | 'kind'>>): SortSpec {
  const direction = sort.startsWith('-') ? 'desc' : 'asc'
  const field = sort.replace(/^-/, '')
  const spec = fields[field]
  if (spec === undefined) throw new Errors.InvalidInput(`Cannot sort by ${field}`)
  return { field, direction, ...spec }
}

interface CursorPayload {
  s: string
  v: SortValue
  id: string
}

export function encodeCursor(sort: SortSpec, row: Record<string, unknown> & { id: string }): string {
  const raw = row[sort.field]
  const value = raw instanceof Date ? isoTimestamp(raw) : (raw as SortValue)
  const payload: CursorPayload = { s: `${sort.direction === 'desc' ? '-' : ''}${sort.field}`, v: value, id: row.id }
  return Buffer.from(JSON.stringify(payload)).toString('base64url')
}

// The integer sort columns are SMALLINT; timestamps are written by Date#toISOString (years 0000-9999).
const MAX_SMALL_INT = 32_767
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function decodeCursor(cursor: string, sort: SortSpec): { value: SortValue; id: string } {
  let payload: CursorPayload
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorPayload
  } catch {
    throw new Errors.InvalidCursor()
  }
  const expectedSort = `${sort.direction === 'desc' ? '-' : ''}${sort.field}`
  if (
    payload === null ||
    typeof payload !== 'object' ||
    payload.s !== expectedSort ||
    typeof payload.id !== 'string' ||
    !UUID.test(payload.id)
  ) {
    throw new Errors.InvalidCursor()
  }
  const { v } = payload
  if (v === null) {
    if (!sort.nullable) throw new Errors.InvalidCursor()
    return { value: null, id: payload.id }
  }
  // Only values encodeCursor could have written get through: anything else (a fraction for an integer
  // column, a year Postgres cannot store, a NUL byte) would fail in the database as a 500 instead.
  if (sort.kind === 'number' && Number.isInteger(v) && Math.abs(v as number) <= MAX_SMALL_INT) {
    return { value: v, id: payload.id }
  }
  if (sort.kind === 'string' && typeof v === 'string' && !v.includes('\u0000')) return { value: v, id: payload.id }
  if (sort.kind === 'date' && typeof v === 'string' && ISO_INSTANT.test(v)) {
    const date = new Date(v)
    if (!Number.isNaN(date.getTime()) && date.toISOString() === v) return { value: date, id: payload.id }
  }
  throw new Errors.InvalidCursor()
}

export function orderBy(sort: SortSpec): Array<Record<string, unknown>> {
  const primary = sort.nullable ? { sort: sort.direction, nulls: 'last' } : sort.direction
  return [{ [sort.field]: primary }, { id: sort.direction }]
}

/** The `where` condition selecting rows after the cursor, in the given order. */
export function afterCursor(cursor: string | undefined, sort: SortSpec): Record<string, unknown> {
  if (cursor === undefined) return {}
  const { value, id } = decodeCursor(cursor, sort)
  const beyond = sort.direction === 'asc' ? 'gt' : 'lt'
  if (value === null) return { [sort.field]: null, id: { [beyond]: id } }
  const conditions: Array<Record<string, unknown>> = [
    { [sort.field]: { [beyond]: value } },
    { [sort.field]: value, id: { [beyond]: id } },
  ]
  if (sort.nullable) conditions.push({ [sort.field]: null })
  return { OR: conditions }
}

/** Fetches limit + 1 rows, returns limit and the cursor of the next page. */
export function toPage<Row extends { id: string }, Dto>(
  rows: Row[],
  limit: number,
  sort: SortSpec,
  toDto: (row: Row) => Dto,
): { data: Dto[]; next: string | null } {
  const hasMore = rows.length > limit
  const pageRows = hasMore ? rows.slice(0, limit) : rows
  const last = pageRows.at(-1)
  return {
    data: pageRows.map(toDto),
    next: hasMore && last !== undefined ? encodeCursor(sort, last as Row & Record<string, unknown>) : null,
  }
}
