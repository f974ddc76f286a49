// Negotiated compression of what the edge sends that the response cache did not code already (forwarded,
// uncacheable or streamed responses, stale and collapsed answers): zstd, Brotli or gzip as the client asks
// (proxy/compression/negotiation.ts), for the responses proxy/compression/policy.ts allows, with Vary and ETag
// set to match. Our own hook rather than @fastify/compress: see README, "Compression".
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { pipeline, type Readable } from 'node:stream'
import { encoderStream, encodeSync } from '../compression/codecs.ts'
import {
  requestCoder,
  responseVaries,
  varyWithAcceptEncoding,
  weakEtag,
  type CompressionSettings,
} from '../compression/policy.ts'

declare module 'fastify' {
  interface FastifyReply {
    /** Set by whoever already chose this response's coding (the cache's stored variants): left as it is. */
    codingDecided: boolean
  }
}

const sizeOf = (payload: unknown): number | undefined =>
  Buffer.isBuffer(payload) ? payload.length : typeof payload === 'string' ? Buffer.byteLength(payload) : undefined

async function responseCompression(app: FastifyInstance, settings: CompressionSettings): Promise<void> {
  if (!app.hasReplyDecorator('codingDecided')) app.decorateReply('codingDecided', false)
  const coding = requestCoder(settings)

  app.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done) => {
    if (reply.codingDecided || payload === null || payload === undefined) return done(null, payload)
    // The few headers the policy reads, not getHeaders()'s copy of them all: this runs on every forwarded response.
    const headers: Record<string, unknown> = {
      'content-type': reply.getHeader('content-type'),
      'content-encoding': reply.getHeader('content-encoding'),
      'content-range': reply.getHeader('content-range'),
      'cache-control': reply.getHeader('cache-control'),
    }
    const size = sizeOf(payload)
    // A stream's length, when its sender said it; unknown (undefined) it is coded, as nginx's gzip_min_length does.
    const length = size === undefined ? reply.getHeader('content-length') : undefined
    const declared = length === undefined ? undefined : Number(length)
    if (!responseVaries(reply.statusCode, headers, size ?? declared, settings)) return done(null, payload)
    reply.header('vary', varyWithAcceptEncoding(reply.getHeader('vary')))
    const encoding = coding(request.method, request.headers)
    if (encoding === 'identity') return done(null, payload)
    const level = settings.levels[encoding]
    reply.header('content-encoding', encoding)
    const etag = weakEtag(reply.getHeader('etag'))
    if (etag !== undefined) reply.header('etag', etag)
    if (size !== undefined) {
      const body = encodeSync(encoding, Buffer.isBuffer(payload) ? payload : Buffer.from(payload as string), level)
      reply.header('content-length', body.length)
      return done(null, body)
    }
    reply.removeHeader('content-length')
    const encoder = encoderStream(encoding, level)
    // pipeline: a client gone mid-body, or a failing upstream body, ends both streams and owns their errors.
    pipeline(payload as Readable, encoder, () => {})
    done(null, encoder)
  })
}

export default fp(responseCompression, { name: 'response-compression', fastify: '5.x' })
