// Prisma's `contains` becomes ILIKE '%…%' without escaping the pattern, so a search for "%" or "_" would
// match everything. Escaping them (and the escape character itself) makes `q` the plain substring it promises.
export function substring(q: string): { contains: string; mode: 'insensitive' } {
  return { contains: q.replace(/[\\%_]/g, char => `\\${char}`), mode: 'insensitive' }
}
