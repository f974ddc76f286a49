// Date#toISOString, as the API writes every timestamp: on Node 20–24 it costs 0.8–2 µs a call, and a GraphQL page
// of projects with their tasks formats over a hundred. The same text built from the UTC fields costs a fifth.
const pad2 = (value: number): string => (value < 10 ? '0' : '') + value
const pad3 = (value: number): string => (value < 10 ? '00' : value < 100 ? '0' : '') + value

export function isoTimestamp(date: Date): string {
  const year = date.getUTCFullYear()
  // Years toISOString writes otherwise (signed, six digits, or padded) and invalid dates (it throws): left to it.
  if (!(year >= 1000 && year <= 9999)) return date.toISOString()
  return (
    `${year}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}T${pad2(date.getUTCHours())}:` +
    `${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}.${pad3(date.getUTCMilliseconds())}Z`
  )
}
