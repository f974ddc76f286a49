// Proactive negotiation of a response's content coding from Accept-Encoding, after RFC 9110 §12.5.3: q-values,
// `identity`, `*`, and refusals by q=0. Pure; table-tested in test/proxy/compression/negotiation.test.ts.
// @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
export const ENCODINGS = ['zstd', 'br', 'gzip'] as const
export type Encoding = (typeof ENCODINGS)[number]
export type Coding = Encoding | 'identity'

/** What one Accept-Encoding value says: each listed coding's weight (0..1), and `*`'s when listed. */
export interface Preferences {
  weights: Map<string, number>
  star: number | undefined
}

const QVALUE = /^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$/i

export function parseAcceptEncoding(header: string): Preferences {
  const weights = new Map<string, number>()
  let star: number | undefined
  for (const member of header.split(',')) {
    const [rawName, ...parameters] = member.split(';')
    let name = rawName!.trim().toLowerCase()
    if (name === '') continue
    if (name === 'x-gzip') name = 'gzip' // RFC 9110 §8.4.1.3: x-gzip is gzip
    let weight = 1
    const q = parameters.map(parameter => parameter.trim()).find(parameter => /^q=/i.test(parameter))
    if (q !== undefined) {
      if (!QVALUE.test(q)) continue // an unreadable weight: the member says nothing we can trust
      weight = Number(q.slice(2))
    }
    if (name === '*') star = star === undefined ? weight : Math.max(star, weight)
    else weights.set(name, Math.max(weights.get(name) ?? 0, weight))
  }
  return { weights, star }
}

/**
 * The coding to send, among `offered` (in the server's order of preference, which breaks ties): the most
 * wanted acceptable one. A coding the client does not name is acceptable only through `*`; identity is
 * acceptable unless named (or `*`) with q=0, and beats a coding only when the client weighs it higher.
 * When nothing at all is acceptable the response still goes uncoded: RFC 9110 lets a server disregard the
 * field rather than answer 406, and an error would help no client.
 */
export function negotiate(header: string | undefined, offered: readonly Encoding[]): Coding {
  if (header === undefined || offered.length === 0) return 'identity'
  const { weights, star } = parseAcceptEncoding(header)
  let best: Encoding | undefined
  let bestWeight = 0
  for (const encoding of offered) {
    const weight = weights.get(encoding) ?? star ?? 0
    if (weight > bestWeight) {
      best = encoding
      bestWeight = weight
    }
  }
  if (best === undefined) return 'identity'
  const identity = weights.get('identity')
  return identity !== undefined && identity > bestWeight ? 'identity' : best
}

/**
 * negotiate() remembered per Accept-Encoding value: clients send a handful of distinct values, so parsing each
 * once keeps negotiation off the per-request cost. Bounded: past `max` values it starts over.
 */
export function cachedNegotiator(offered: readonly Encoding[], max = 256): (header: string | undefined) => Coding {
  const known = new Map<string, Coding>()
  return header => {
    if (header === undefined || offered.length === 0) return 'identity'
    let coding = known.get(header)
    if (coding === undefined) {
      coding = negotiate(header, offered)
      if (known.size >= max) known.clear()
      known.set(header, coding)
    }
    return coding
  }
}
