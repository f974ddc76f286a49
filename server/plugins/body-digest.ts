// The second half of the identity check: the body must be the one the proxy signed (RFC 9530 Content-Digest).
// It is hashed on its way to the content-type parser, in one pass and without a copy; a mismatch fails the
// stream where it would end, so the body is never parsed, validated or acted on. Runs after `authenticate`.
import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { contentDigest, finishContentDigest, framesBody } from '../../common/identity-signature.ts'
import { Errors } from '../../common/problem.ts'

const EMPTY_BODY_DIGEST = contentDigest('')
const ignore = (): void => {}

/** A request whose body is not the one signed has no identity: it is refused as the API refuses those. */
function refuse(request: FastifyRequest): Error {
  request.log.warn({ reason: 'body-digest-mismatch' }, 'refused request whose body does not match its signed digest')
  // The GraphQL context hands an error of a request without identity to the API's problem+json handler.
  request.identity = null
  return new Errors.BodyDigestMismatch()
}

/**
 * Passes the body through unchanged while hashing it. It starts reading its source only when read itself:
 * a body no parser reads (a 415, a GET) stays untouched, for Node to discard as it does any unread body.
 */
class DigestCheckedBody extends Transform {
  private readonly hash = createHash('sha256')
  private started = false

  private readonly source: Readable
  private readonly request: FastifyRequest
  private readonly expected: string
  constructor(source: Readable, request: FastifyRequest, expected: string) {
    super()
    this.source = source
    this.request = request
    this.expected = expected
    // Fastify stops listening at the body limit (a 413) while the rest streams through: a mismatch found then
    // has no one to tell, and an unheard 'error' would crash the process.
    this.on('error', ignore)
  }

  override _read(size: number): void {
    if (!this.started) {
      this.started = true
      // pipe, not pipeline: on an IncomingMessage, pipeline's bookkeeping cost ~45 µs of CPU per request (pipe ~8).
      // A source error (the client went away) reaches the parser through this stream.
      this.source.once('error', error => this.destroy(error))
      this.source.pipe(this)
    }
    super._read(size)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk)
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    // 400 and a catalogued code: Fastify's parser sends a stream error with a status of 400 or more as it is.
    done(finishContentDigest(this.hash) === this.expected ? null : refuse(this.request))
  }
}

async function bodyDigest(app: FastifyInstance): Promise<void> {
  app.addHook('preParsing', async (request, _reply, payload) => {
    // No identity: not an authenticated route. No digest: no body, since `authenticate` refuses an unsigned one.
    const expected = request.identity?.contentDigest ?? null
    if (expected === null) return payload
    if (!framesBody(request.headers)) {
      if (expected !== EMPTY_BODY_DIGEST) throw refuse(request) // the signed body was stripped
      return payload
    }
    return new DigestCheckedBody(payload, request, expected)
  })
}

export default fp(bodyDigest, { name: 'body-digest', fastify: '5.x', dependencies: ['identity'] })
