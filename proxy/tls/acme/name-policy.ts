// Which host names may get a certificate from a public ACME CA, as Caddy decides (certmagic's
// SubjectQualifiesForPublicCert): a name a tenant could own (common/hostname.ts: no IP address, wildcard, single
// label or local-only name). The others keep the local CA.
import { checkHostname } from '../../../common/hostname.ts'

export function qualifiesForPublicCertificate(name: string): boolean {
  return checkHostname(name).ok
}

/** The names of `hostnames` that get ACME certificates, as certificates name them (lower case, punycode), once each. */
export function publicNames(hostnames: string[]): string[] {
  const names = hostnames.map(checkHostname).flatMap(check => (check.ok ? [check.hostname] : []))
  return [...new Set(names)]
}
