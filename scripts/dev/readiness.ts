// When the dev stack serves: the API's /ready answers, then the edge's /ready (which asks the API again, through
// the path clients take). The API comes first because each failed check of the edge's /ready logs a warning.
import { get as httpGet } from 'node:http'
import { get as httpsGet } from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'

const POLL_MS = 50

function answersReady(url: URL): Promise<boolean> {
  return new Promise(resolve => {
    const get = url.protocol === 'https:' ? httpsGet : httpGet
    // A readiness probe on loopback: clients check the edge's certificate, this asks whether it answers (and the
    // certificate may be the operator's own, not the local CA's).
    const options = { agent: false, timeout: 2000, rejectUnauthorized: false, servername: 'localhost' }
    const request = get(url, options, response => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(false))
  })
}

/** Resolves true once each URL's /ready has answered 200, in order; false if aborted first. */
export async function waitUntilReady(urls: URL[], signal: AbortSignal): Promise<boolean> {
  for (const url of urls) {
    while (!signal.aborted && !(await answersReady(url))) await sleep(POLL_MS)
  }
  return !signal.aborted
}

/** http(s)://host:port/ready, with a wildcard listening address probed on loopback. */
export function readyUrl(protocol: 'http' | 'https', host: string | undefined, port: string): URL {
  const probed = host === undefined || host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  const url = new URL(`${protocol}://${probed.includes(':') ? `[${probed}]` : probed}/ready`)
  // A port that is no port is left out here: the process it is meant for rejects it (exit 78), which ends dev.
  url.port = port
  return url
}
