// Request bodies are received whole at the edge before anything goes to the API (nginx's
// proxy_request_buffering): a slow or unfinished upload holds only the edge's memory, never an API
// connection; an oversized body is refused here (413) whether it declared its length or not; and the edge
// can sign a digest of exactly what it forwards. Memory is bounded twice: BODY_LIMIT_BYTES a request, and
// BODY_BUFFER_MAX_BYTES for all bodies held at once (past it, 503 + Retry-After). A compressed body
// (Content-Encoding gzip, br or zstd) is decoded here, its decoded size held to the same limit (a zip bomb is
// 413), so the API receives, and the identity signature covers, the body itself.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Http2ServerRequest } from 'node:http2'
import type { Readable } from 'node:stream'
import { Errors } from '../../common/problem.ts'
import { decodeBody, REQUEST_CODINGS } from '../compression/codecs.ts'
import type { Encoding } from '../compression/negotiation.ts'

/** Bytes of request bodies held at once, across every request of this process. */
export class BodyBudget {
  #used = 0
  readonly maxBytes: number
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }
  get used(): number {
    return this.#used
  }
  take(bytes: number): boolean {
    if (this.#used + bytes > this.maxBytes) return false
    this.#used += bytes
    return true
  }

  give(bytes: number): void {
    this.#used -= bytes
  }
}

const ACCEPTED_CODINGS = 'gzip, br, zstd'

/** What one request holds of the budget, given back when its exchange ends however it ends. */
interface Hold {
  bytes: number
}

declare module 'fastify' {
  interface FastifyRequest {
    bodyHold: Hold | null
  }
}

export interface RequestBodyOptions {
  limitBytes: number
  budget: BodyBudget
  /** A client fault while its body was read (went away, sent more than it declared, or too much). */
  onClientFault(kind: 'aborted' | 'bad-framing' | 'too-large'): void
}

const hasBody = (request: FastifyRequest): boolean =>
  request.raw.httpVersionMajor === 2
    ? !(request.raw as unknown as Http2ServerRequest).stream.endAfterHeaders
    : request.headers['transfer-encoding'] !== undefined ||
      (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0')

function readWhole(
  request: FastifyRequest,
  payload: Readable,
  options: RequestBodyOptions,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const hold = request.bodyHold
  const declaredHeader = request.headers['content-length']
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader)
  // A declared length over the limit never gets here: the forward plugin's onRequest hook refused it.
  // A declared length is taken up front; an undeclared one as it arrives.
  const claim = (bytes: number): boolean => {
    if (hold === null) return true // a body Fastify found where the request's framing announced none: none held
    if (!options.budget.take(bytes)) return false
    hold.bytes += bytes
    return true
  }
  if (declared !== undefined && !claim(declared)) {
    done(new Errors.BodyBufferFull())
    return
  }
  const chunks: Buffer[] = []
  let received = 0
  let finished = false
  const finish = (error: Error | null, body?: Buffer): void => {
    if (finished) return
    finished = true
    payload.removeListener('data', onData)
    payload.removeListener('end', onEnd)
    payload.removeListener('error', onError)
    payload.removeListener('close', onClose)
    done(error, body)
  }
  const onData = (chunk: Buffer): void => {
    received += chunk.length
    if (received > options.limitBytes || (declared !== undefined && received > declared)) {
      options.onClientFault(received > options.limitBytes ? 'too-large' : 'bad-framing')
      finish(
        received > options.limitBytes ? new Errors.BodyTooLarge(options.limitBytes) : new Errors.BodyLengthMismatch(),
      )
      return
    }
    if (declared === undefined && !claim(chunk.length)) {
      finish(new Errors.BodyBufferFull())
      return
    }
    chunks.push(chunk)
  }
  const onEnd = (): void => {
    if (declared !== undefined && received !== declared) {
      options.onClientFault('bad-framing')
      finish(new Errors.BodyLengthMismatch())
      return
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)
    const coding = codingOf(request)
    if (coding === undefined) return finish(null, body)
    decodeBody(coding, body, options.limitBytes, (failure, decoded) => {
      if (failure === 'too-large') options.onClientFault('too-large')
      if (failure !== null) {
        return finish(
          failure === 'too-large' ? new Errors.BodyTooLarge(options.limitBytes) : new Errors.BadBodyEncoding(coding),
        )
      }
      // Held as well as the coded body until the exchange ends; what goes upstream is the decoded body alone.
      if (!claim(decoded!.length)) return finish(new Errors.BodyBufferFull())
      delete request.headers['content-encoding']
      finish(null, decoded)
    })
  }
  // The client went away (or reset its stream) before its body was complete: nobody waits for an answer.
  const onError = (): void => {
    options.onClientFault('aborted')
    finish(new Errors.ClientAborted())
  }
  const onClose = (): void => {
    if (!payload.readableEnded) onError()
  }
  payload.on('data', onData)
  payload.on('end', onEnd)
  payload.on('error', onError)
  payload.on('close', onClose)
}

/** The coding of a request's body that the edge decodes; undefined for none (or identity). */
function codingOf(request: FastifyRequest): Encoding | undefined {
  const coding = request.headers['content-encoding']
  return coding === undefined ? undefined : REQUEST_CODINGS[coding.trim().toLowerCase()]
}

const unsupportedCoding = (request: FastifyRequest): boolean => {
  const coding = request.headers['content-encoding']
  if (coding === undefined) return false
  const name = coding.trim().toLowerCase()
  return name !== 'identity' && name !== '' && REQUEST_CODINGS[name] === undefined
}

/** Replaces every body parser of this context: bodies arrive as Buffers, whatever their type. */
export function receiveBodiesWhole(app: FastifyInstance, options: RequestBodyOptions): void {
  app.decorateRequest('bodyHold', null)
  // Only requests that carry a body pay for a listener: the hold is given back when the exchange ends.
  app.addHook(
    'onRequest',
    function holdBodyBudget(request: FastifyRequest, reply: FastifyReply, next: (error?: Error) => void) {
      if (hasBody(request)) {
        // One coding the edge can decode, or none: anything else (deflate, a chain of codings) is 415, and the
        // answer says what is accepted (RFC 9110 §12.5.3).
        if (unsupportedCoding(request)) {
          reply.header('accept-encoding', ACCEPTED_CODINGS)
          next(new Errors.UnsupportedBodyEncoding(String(request.headers['content-encoding'])))
          return
        }
        const hold: Hold = { bytes: 0 }
        request.bodyHold = hold
        reply.raw.once('close', () => {
          options.budget.give(hold.bytes)
          hold.bytes = 0
        })
        // An HTTP/2 body says nothing of itself in headers; without a type Fastify would take it for none and
        // leave it unread. A recipient may assume octet-stream (RFC 9110 §8.3).
        if (request.headers['content-type'] === undefined) request.headers['content-type'] = 'application/octet-stream'
      }
      next()
    },
  )
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => readWhole(request, payload as Readable, options, done))
}
