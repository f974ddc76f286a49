// The security headers our proxy sends (@fastify/helmet as proxy/plugins/security-headers.ts configures it),
// written out so nginx and Caddy can be told to send the very same set. Every probe of our proxy checks its
// answer still carries exactly these values: if the policy changes, the bench says so instead of comparing
// servers that no longer do the same header work.
export const EDGE_SECURITY_HEADER_VALUES: Record<string, string> = {
  'content-security-policy':
    "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data:;font-src 'self' data:;connect-src 'self';object-src 'none';base-uri 'self';frame-ancestors 'none';form-action 'self'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=15552000',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
}

/** The names of the headers in `headers` that differ from the edge's set (missing or another value). */
export function securityHeaderMismatches(headers: Record<string, string | string[] | undefined>): string[] {
  return Object.entries(EDGE_SECURITY_HEADER_VALUES)
    .filter(([name, value]) => headers[name] !== value)
    .map(([name, value]) => `${name}: expected ${JSON.stringify(value)}, got ${JSON.stringify(headers[name])}`)
}
