// Container health check for the one image's two roles (Dockerfile HEALTHCHECK, compose healthcheck).
// `node healthcheck.mjs [url…]` exits 0 when every URL answers 200 within 2 s, 1 otherwise. Without
// URLs it probes the role the container runs, read from PID 1's command line (tini or docker-init
// followed by the node command): the proxy's plain-HTTP /health (answered in place, no TLS), or the
// API's /health.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

function defaultUrls() {
  let command = ''
  try {
    command = readFileSync('/proc/1/cmdline', 'utf8').replaceAll('\0', ' ')
  } catch {}
  if (command.includes('dist/proxy/main.js') || command.includes('start:proxy')) {
    const httpPort = process.env.PROXY_HTTP_PORT || '8080'
    return httpPort === '0'
      ? [`https://127.0.0.1:${process.env.PROXY_HTTPS_PORT || '8443'}/health`]
      : [`http://127.0.0.1:${httpPort}/health`]
  }
  return [`http://127.0.0.1:${process.env.PORT || '3000'}/health`]
}

function probe(url) {
  return new Promise(resolve => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest
    // Only liveness over loopback: the certificate may be for the public name, not 127.0.0.1.
    const request = send(url, { timeout: 2000, rejectUnauthorized: false }, response => {
      response.resume()
      resolve(response.statusCode === 200 ? null : `${url}: ${response.statusCode}`)
    })
    request.on('timeout', () => request.destroy(new Error('timed out')))
    request.on('error', error => resolve(`${url}: ${error.message}`))
    request.end()
  })
}

const urls = process.argv.length > 2 ? process.argv.slice(2) : defaultUrls()
const failures = (await Promise.all(urls.map(probe))).filter(Boolean)
if (failures.length > 0) process.stderr.write(`unhealthy: ${failures.join('; ')}\n`)
process.exit(failures.length > 0 ? 1 : 0)
