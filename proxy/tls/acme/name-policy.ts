// Which host names may get a certificate from a public ACME CA, as Caddy decides (certmagic's
// SubjectQualifiesForPublicCert): not local-only names, not IP addresses. The others keep the local CA.
import { isIP } from 'node:net'

/** Suffixes no public CA will (or may) certify: they resolve only on a machine or a private network. */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa']

/** A DNS name of letter-digit-hyphen labels, 1–63 characters each, 253 at most in all. */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/

const normalise = (name: string): string => name.toLowerCase().replace(/\.$/, '')

export function qualifiesForPublicCertificate(name: string): boolean {
  const host = normalise(name)
  if (host === 'localhost' || isIP(host.replace(/^\[|\]$/g, '')) !== 0) return false
  if (LOCAL_SUFFIXES.some(suffix => host.endsWith(suffix) || host === suffix.slice(1))) return false
  // Wildcards need the DNS-01 challenge, which this edge does not answer; a single label ("intranet") is no
  // public name; a name with an underscore, a space or other characters is not a host name.
  return DNS_NAME.test(host)
}

/** The names of `hostnames` that get ACME certificates, normalised (lower case, no trailing dot, once each). */
export function publicNames(hostnames: string[]): string[] {
  return [...new Set(hostnames.filter(qualifiesForPublicCertificate).map(normalise))]
}
