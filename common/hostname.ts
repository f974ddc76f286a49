// Hostnames a tenant may claim as its own, and the one spelling they are stored and looked up in: lowercase
// ASCII, IDNA names as punycode (UTS #46, as browsers map them: Node's WHATWG URL), no trailing dot.
import { isIP } from 'node:net'
import { domainToASCII, domainToUnicode } from 'node:url'

export type HostnameCheck = { ok: true; hostname: string } | { ok: false; reason: string }

/** RFC 1035: 255 octets on the wire, so 253 characters written out; 63 per label. */
export const MAX_HOSTNAME_LENGTH = 253
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** Names no public CA will certify and no one can own: loopback, mDNS, private-use and never-resolving ones. */
const LOCAL_ONLY_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'invalid']

export function isLocalOnlyName(hostname: string): boolean {
  return LOCAL_ONLY_SUFFIXES.some(suffix => hostname === suffix || hostname.endsWith(`.${suffix}`))
}

const refuse = (reason: string): HostnameCheck => ({ ok: false, reason })
const TOO_LONG = `is longer than ${MAX_HOSTNAME_LENGTH} characters`

/** Validates a hostname a tenant claims and returns its stored spelling, or why it is refused. */
export function checkHostname(input: string): HostnameCheck {
  if (input.length === 0) return refuse('is empty')
  // Generous before mapping (a Unicode name is longer as punycode), so the mapping never runs on megabytes.
  if (input.length > MAX_HOSTNAME_LENGTH * 4) return refuse(TOO_LONG)
  if (input.includes('*')) return refuse('is a wildcard; claim each name on its own')
  const bare = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input
  if (isIP(bare) !== 0) return refuse('is an IP address, not a name')
  // One trailing dot is the fully qualified spelling of the same name.
  const ascii = domainToASCII(input.endsWith('.') ? input.slice(0, -1) : input)
  if (ascii === '') return refuse('is not a valid hostname (IDNA mapping failed)')
  if (isIP(ascii) !== 0) return refuse('is an IP address, not a name')
  if (ascii.length > MAX_HOSTNAME_LENGTH) return refuse(TOO_LONG)
  const labels = ascii.split('.')
  if (labels.length < 2) return refuse('needs at least two labels (e.g. api.example.com)')
  for (const label of labels) {
    if (label.length > 63) return refuse(`has a label longer than 63 characters ("${label.slice(0, 20)}…")`)
    if (!LABEL.test(label)) return refuse(`has a label that is not letters, digits and inner hyphens ("${label}")`)
    // An A-label that does not decode is not punycode (domainToUnicode leaves such a label as it was).
    const undecodable = label.startsWith('xn--') && domainToUnicode(label) === label
    if (undecodable) return refuse(`has an invalid punycode label ("${label}")`)
  }
  // A top-level domain is never numeric: "1.2.3" is an address in another notation, not a name.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return refuse('ends in a numeric label, as an IP address does')
  if (isLocalOnlyName(ascii)) return refuse('is a local-only name (localhost, .local, .internal, .home.arpa, .invalid)')
  return { ok: true, hostname: ascii }
}

/**
 * The host a request names (Host or :authority), as tenant domains are stored: lowercase, without port or
 * trailing dot. Cheap (no IDNA: a client sends the ASCII form); a name that is not ASCII matches no domain.
 */
export function requestHostname(host: string | undefined): string {
  if (host === undefined || host === '') return ''
  let name = host
  if (name.startsWith('[')) return '' // an IPv6 literal: never a tenant's domain
  const colon = name.indexOf(':')
  if (colon !== -1) name = name.slice(0, colon)
  if (name.endsWith('.')) name = name.slice(0, -1)
  return name.toLowerCase()
}
