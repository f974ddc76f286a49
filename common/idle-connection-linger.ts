// Node's server.close() also closes idle HTTP/1.1 keep-alive connections at once. But "idle" only means no
// request has been read from it yet: one a client already sent, still unread by a busy process, is cut off
// with the connection — the client sees a reset and cannot tell whether its request (a POST) was applied.
// So idle connections linger a moment first: whatever they carry by then is served (the caller answers it
// with Connection: close), and they are closed after. Both processes drain this way (server/main.ts, proxy/).
// @see https://nodejs.org/docs/latest-v20.x/api/http.html#servercloseidleconnections

/** Makes the server's closeIdleConnections (which close() calls) wait `lingerMs` before closing them. */
export function lingerIdleConnections(server: { closeIdleConnections(): void }, lingerMs: number): void {
  const closeIdleNow = server.closeIdleConnections.bind(server)
  server.closeIdleConnections = () => {
    setTimeout(closeIdleNow, lingerMs).unref()
  }
}
