// How long a client may hold a socket of ours, the same three settings for both processes: its request
// headers (slowloris), its whole request with the body, and an idle keep-alive connection between requests.
// @see https://nodejs.org/docs/latest-v20.x/api/http.html#serverheaderstimeout
import type { Server } from 'node:http'
import type { Http2SecureServer } from 'node:http2'
import { Type } from 'typebox'
import { ConfigError } from './env-config.ts'
import { enforceHttp2SessionDeadlines } from './http2-session-deadlines.ts'

export interface ServerTimeouts {
  headersMs: number
  requestMs: number
  keepAliveMs: number
}

/** The settings' schema, with each process's defaults. */
export const serverTimeoutSettings = (defaults: ServerTimeouts) => ({
  HEADERS_TIMEOUT_MS: Type.Integer({
    default: defaults.headersMs,
    minimum: 100,
    description: 'A client has this long for its request headers',
  }),
  REQUEST_TIMEOUT_MS: Type.Integer({
    default: defaults.requestMs,
    minimum: 100,
    description: 'A client has this long for its whole request, body included',
  }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({
    default: defaults.keepAliveMs,
    minimum: 100,
    description: 'An idle keep-alive connection is closed after this',
  }),
})

export function serverTimeouts(settings: {
  HEADERS_TIMEOUT_MS: number
  REQUEST_TIMEOUT_MS: number
  KEEP_ALIVE_TIMEOUT_MS: number
}): ServerTimeouts {
  // Node refuses a header deadline beyond the request's: say so at start, naming the settings.
  if (settings.HEADERS_TIMEOUT_MS > settings.REQUEST_TIMEOUT_MS) {
    throw new ConfigError([
      `HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS (got ${settings.HEADERS_TIMEOUT_MS} > ${settings.REQUEST_TIMEOUT_MS})`,
    ])
  }
  return {
    headersMs: settings.HEADERS_TIMEOUT_MS,
    requestMs: settings.REQUEST_TIMEOUT_MS,
    keepAliveMs: settings.KEEP_ALIVE_TIMEOUT_MS,
  }
}

/**
 * Applies the deadlines to an HTTP/1.1 server, or to an HTTP/2 server: the header deadline to its sessions, all
 * three to the HTTP/1.1 side it allows. Call before listen: Node starts its checker then.
 */
export function applyServerTimeouts(server: Server | Http2SecureServer, timeouts: ServerTimeouts): void {
  // Node types connectionsCheckingInterval only as a constructor option; the server reads the property at listen.
  const http1 = server as Server & { connectionsCheckingInterval: number }
  http1.headersTimeout = timeouts.headersMs
  http1.requestTimeout = timeouts.requestMs
  http1.keepAliveTimeout = timeouts.keepAliveMs
  // Node looks for expired header and request deadlines only every 30 s by default, so a 10 s header
  // deadline could hold for 40 s: check at least every second (and often enough for short test settings).
  http1.connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(timeouts.headersMs / 4)))
  // An HTTP/2 request's body has its deadline in proxy/plugins/http2-request-deadline.ts; headers, stalled and
  // idle sessions here.
  if (isHttp2Server(server)) enforceHttp2SessionDeadlines(server, timeouts, http1.connectionsCheckingInterval)
}

const isHttp2Server = (server: Server | Http2SecureServer): server is Http2SecureServer => 'updateSettings' in server
