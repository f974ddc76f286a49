// Migrations are written by hand, so nothing but this test keeps them and schema.prisma (which the client is
// generated from) in step. It reads the schema with Prisma's own parser and compares every table, column
// type, nullability, enum, index and foreign key with what the migrated database really has.
import { readFile } from 'node:fs/promises'
import internals from '@prisma/internals'
import t from 'tap'
import { migrate } from '../../server/db/migrate.ts'
import { createEmptyPglite } from '../../server/db/pglite-snapshot.ts'
import { pgliteSession, type SqlSession } from '../../server/db/sql-session.ts'
import { forEachBackend } from '../helpers/backends.ts'

type Dmmf = Awaited<ReturnType<typeof internals.getDMMF>>['datamodel']

interface Shape {
  /** table → column → "type, null|not null" (types as Postgres's format_type spells them). */
  tables: Record<string, Record<string, string>>
  enums: Record<string, string[]>
  /** "table(col, …) primary|unique|index" */
  indexes: string[]
  /** "table(col, …) → table(col, …)" */
  foreignKeys: string[]
}

// Prisma's scalar types and @db native types, as Postgres's format_type() names the column type.
const DEFAULT_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
}
const NATIVE_TYPES: Record<string, (args: string[]) => string> = {
  Uuid: () => 'uuid',
  Text: () => 'text',
  VarChar: args => (args.length > 0 ? `character varying(${args[0]})` : 'character varying'),
  Char: args => `character(${args[0] ?? 1})`,
  SmallInt: () => 'smallint',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Boolean: () => 'boolean',
  Date: () => 'date',
  Timestamptz: args => `timestamp(${args[0] ?? 6}) with time zone`,
  Timestamp: args => `timestamp(${args[0] ?? 6}) without time zone`,
  JsonB: () => 'jsonb',
  Json: () => 'json',
}

function columnType(field: Dmmf['models'][number]['fields'][number], dmmf: Dmmf): string {
  let type: string
  if (field.kind === 'enum') {
    const enumeration = dmmf.enums.find(candidate => candidate.name === field.type)!
    type = enumeration.dbName ?? enumeration.name
  } else if (field.nativeType != null) {
    const [name, args] = field.nativeType as [string, string[]]
    const native = NATIVE_TYPES[name]
    // An unknown type must fail loudly, not compare as equal by accident: add it to the table above.
    if (native === undefined) throw new Error(`schema-drift test: no mapping for @db.${name} yet`)
    type = native(args)
  } else {
    type =
      DEFAULT_TYPES[field.type] ??
      (() => {
        throw new Error(`schema-drift test: no mapping for ${field.type} yet`)
      })()
  }
  return field.isList ? `${type}[]` : type
}

function expectedShape(dmmf: Dmmf): Shape {
  const shape: Shape = { tables: {}, enums: {}, indexes: [], foreignKeys: [] }
  const tableOf = (model: string) => {
    const found = dmmf.models.find(candidate => candidate.name === model)!
    return found.dbName ?? found.name
  }
  const columnOf = (model: string, field: string) =>
    dmmf.models.find(candidate => candidate.name === model)!.fields.find(candidate => candidate.name === field)!
      .dbName ?? field
  for (const enumeration of dmmf.enums) {
    shape.enums[enumeration.dbName ?? enumeration.name] = enumeration.values.map(value => value.dbName ?? value.name)
  }
  for (const model of dmmf.models) {
    const columns: Record<string, string> = {}
    for (const field of model.fields) {
      if (field.kind === 'object') {
        if ((field.relationFromFields ?? []).length > 0) {
          shape.foreignKeys.push(
            `${tableOf(model.name)}(${field.relationFromFields!.map(name => columnOf(model.name, name)).join(', ')}) → ` +
              `${tableOf(field.type)}(${field.relationToFields!.map(name => columnOf(field.type, name)).join(', ')})`,
          )
        }
        continue
      }
      columns[field.dbName ?? field.name] = `${columnType(field, dmmf)}, ${field.isRequired ? 'not null' : 'null'}`
    }
    shape.tables[tableOf(model.name)] = columns
  }
  for (const index of dmmf.indexes) {
    const kind = index.type === 'id' ? 'primary' : index.type === 'unique' ? 'unique' : 'index'
    shape.indexes.push(
      `${tableOf(index.model)}(${index.fields.map(field => columnOf(index.model, field.name)).join(', ')}) ${kind}`,
    )
  }
  return shape
}

async function actualShape(session: SqlSession): Promise<Shape> {
  const shape: Shape = { tables: {}, enums: {}, indexes: [], foreignKeys: [] }
  const tables =
    "c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'"
  const columns = await session.query<{ table: string; column: string; type: string; not_null: boolean }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE ${tables} ORDER BY c.relname, a.attnum`,
  )
  for (const row of columns) {
    ;(shape.tables[row.table] ??= {})[row.column] = `${row.type}, ${row.not_null ? 'not null' : 'null'}`
  }
  const enums = await session.query<{ name: string; value: string }>(
    `SELECT t.typname AS name, e.enumlabel AS value FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = 'public'::regnamespace ORDER BY t.typname, e.enumsortorder`,
  )
  for (const row of enums) (shape.enums[row.name] ??= []).push(row.value)
  const indexes = await session.query<{ table: string; columns: string[]; primary: boolean; unique: boolean }>(
    `SELECT c.relname AS table, i.indisprimary AS primary, i.indisunique AS unique,
            ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n) AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE ${tables}`,
  )
  for (const row of indexes) {
    shape.indexes.push(
      `${row.table}(${row.columns.join(', ')}) ${row.primary ? 'primary' : row.unique ? 'unique' : 'index'}`,
    )
  }
  const foreignKeys = await session.query<{
    table: string
    columns: string[]
    target: string
    target_columns: string[]
  }>(
    `SELECT c.relname AS table, r.relname AS target,
            ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.n) AS columns,
            ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.n) AS target_columns
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
      WHERE k.contype = 'f' AND ${tables}`,
  )
  for (const row of foreignKeys) {
    shape.foreignKeys.push(`${row.table}(${row.columns.join(', ')}) → ${row.target}(${row.target_columns.join(', ')})`)
  }
  return shape
}

/** Every difference between schema.prisma and the database, one readable line each; [] when they agree. */
function drift(expected: Shape, actual: Shape): string[] {
  const problems: string[] = []
  for (const table of new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)])) {
    const want = expected.tables[table]
    const have = actual.tables[table]
    if (want === undefined) {
      problems.push(`table ${table} is in the database but not in schema.prisma`)
      continue
    }
    if (have === undefined) {
      problems.push(`table ${table} is missing from the database`)
      continue
    }
    for (const column of new Set([...Object.keys(want), ...Object.keys(have)])) {
      if (want[column] === undefined) {
        problems.push(`column ${table}.${column} is in the database but not in schema.prisma`)
      } else if (have[column] === undefined) problems.push(`column ${table}.${column} is missing from the database`)
      else if (want[column] !== have[column]) {
        problems.push(`column ${table}.${column} is ${have[column]} in the database, ${want[column]} in schema.prisma`)
      }
    }
  }
  for (const name of new Set([...Object.keys(expected.enums), ...Object.keys(actual.enums)])) {
    const [want, have] = [expected.enums[name]?.join(', '), actual.enums[name]?.join(', ')]
    if (want !== have) {
      problems.push(`enum ${name} is (${have ?? 'absent'}) in the database, (${want ?? 'absent'}) in schema.prisma`)
    }
  }
  for (const [label, want, have] of [
    ['index', expected.indexes, actual.indexes],
    ['foreign key', expected.foreignKeys, actual.foreignKeys],
  ] as const) {
    for (const item of want) if (!have.includes(item)) problems.push(`${label} ${item} is missing from the database`)
    for (const item of have) {
      if (!want.includes(item)) problems.push(`${label} ${item} is in the database but not in schema.prisma`)
    }
  }
  return problems
}

const dmmf = (
  await internals.getDMMF({ datamodel: await readFile(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8') })
).datamodel
const expected = expectedShape(dmmf)

t.test('schema.prisma is read completely', async t => {
  t.same(Object.keys(expected.tables).sort(), ['projects', 'tasks', 'tenant_domains', 'tenants'])
  t.equal(expected.tables.tasks?.due_date, 'date, null')
  t.equal(expected.tables.tenants?.plan, 'tenant_plan, not null')
  t.ok(expected.foreignKeys.includes('tasks(tenant_id, project_id) → projects(tenant_id, id)'))
})

forEachBackend(t, async (t, backend) => {
  t.test('the migrated database matches schema.prisma', async t => {
    const actual = await backend.asOwner(actualShape)
    t.same(drift(expected, actual), [])
  })
})

// The comparison itself must notice drift: break a migrated copy in each way and expect each break reported.
t.test('drift is reported, naming what differs', async t => {
  const db = await createEmptyPglite()
  t.teardown(() => db.close())
  const session = pgliteSession(db)
  await migrate(session)
  t.same(drift(expected, await actualShape(session)), [], 'a fresh migration has no drift')
  await session.exec(`
    ALTER TABLE tasks DROP COLUMN due_date;
    ALTER TABLE projects ALTER COLUMN name TYPE varchar(100);
    ALTER TABLE projects ALTER COLUMN description SET NOT NULL;
    ALTER TABLE tenants ADD COLUMN region text;
    ALTER TYPE task_status ADD VALUE 'blocked';
    DROP INDEX tasks_tenant_id_status_idx;
    ALTER TABLE tasks DROP CONSTRAINT tasks_tenant_id_project_id_fkey;
    CREATE TABLE audit (id int);
  `)
  t.same(drift(expected, await actualShape(session)).sort(), [
    'column projects.description is text, not null in the database, text, null in schema.prisma',
    'column projects.name is character varying(100), not null in the database, character varying(200), not null in schema.prisma',
    'column tasks.due_date is missing from the database',
    'column tenants.region is in the database but not in schema.prisma',
    'enum task_status is (todo, in_progress, done, blocked) in the database, (todo, in_progress, done) in schema.prisma',
    'foreign key tasks(tenant_id, project_id) → projects(tenant_id, id) is missing from the database',
    'index tasks(tenant_id, status) index is missing from the database',
    'table audit is in the database but not in schema.prisma',
  ])
})
