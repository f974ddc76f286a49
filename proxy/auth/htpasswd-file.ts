// Writing the credentials file: add or replace one login, keeping every other line as it was, and
// replacing the file atomically (write a temporary file, rename it over) so the proxy never reads half.
import { hash } from 'bcryptjs'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export const BCRYPT_COST = 10

/** `$2y$` is the prefix Apache's own tools write; bcrypt's algorithm is the same as `$2b$`. */
export async function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return (await hash(password, cost)).replace(/^\$2b\$/, '$2y$')
}

export async function upsertLogin(
  path: string,
  login: string,
  password: string,
  cost = BCRYPT_COST,
): Promise<'added' | 'updated'> {
  let lines: string[] = []
  try {
    lines = readFileSync(path, 'utf8').split(/\r?\n/)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const line = `${login}:${await hashPassword(password, cost)}`
  const index = lines.findIndex(existing => existing.startsWith(`${login}:`))
  if (index >= 0) lines[index] = line
  else lines.splice(lines.at(-1) === '' ? lines.length - 1 : lines.length, 0, line)
  const text = lines.filter((existing, position) => existing !== '' || position < lines.length - 1).join('\n') + '\n'
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, text, { mode: 0o600 })
  renameSync(temporary, path)
  return index >= 0 ? 'updated' : 'added'
}
