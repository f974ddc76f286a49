// The few raw-SQL needs below Prisma (migrations, roles, seeding as the owner) over either driver.
import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'

export interface SqlSession {
  /** One statement, with $1… parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>
  /** A script of several statements, no parameters. */
  exec(sql: string): Promise<void>
}

export function pgSession(client: pg.ClientBase): SqlSession {
  return {
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as Row[]
    },
    async exec(sql: string) {
      await client.query(sql)
    },
  }
}

export function pgliteSession(db: PGlite): SqlSession {
  return {
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await db.query<Row>(sql, params)).rows
    },
    async exec(sql: string) {
      await db.exec(sql)
    },
  }
}
