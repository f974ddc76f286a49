// What the compression tests share: a page-sized JSON body, a scripted responder for it, and decoding by coding.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib'
import { PROJECT_PAGE } from '../../bench/trivial-upstream.ts'

export const PAGE = PROJECT_PAGE

/** 200 with the page as JSON, a strong ETag per tenant, Cache-Control as given (shareable by default). */
export const pageResponder =
  (cacheControl = 's-maxage=60') =>
  (request: IncomingMessage, response: ServerResponse): void => {
    const tenant = String(request.headers['x-gatehouse-tenant'])
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': cacheControl,
      etag: `"page-${tenant}"`,
      vary: 'X-Gatehouse-Tenant',
      'content-length': PAGE.length,
    })
    response.end(PAGE)
  }

export function decode(coding: string | string[] | undefined, body: Buffer): Buffer {
  switch (coding) {
    case undefined:
      return body
    case 'gzip':
      return gunzipSync(body)
    case 'br':
      return brotliDecompressSync(body)
    case 'zstd':
      return zstdDecompressSync(body)
    default:
      throw new Error(`unexpected coding ${String(coding)}`)
  }
}
