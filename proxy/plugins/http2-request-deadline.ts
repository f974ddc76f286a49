// The whole-request deadline (REQUEST_TIMEOUT_MS) for HTTP/2. Node enforces it on HTTP/1.1 connections
// only; an HTTP/2 stream whose body trickles in would otherwise hold its upload to the API open for as long
// as the client likes (the session's idle timeout never fires while bytes keep coming). A stream still
// receiving its body at the deadline is answered 408 (if nothing was answered yet) and then reset, which
// also ends the upload it was feeding.
import { constants, type Http2ServerRequest } from 'node:http2'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { PROBLEMS, sendProblem } from '../../common/problem.ts'

function startDeadline(request: FastifyRequest, reply: FastifyReply, requestTimeoutMs: number): void {
  const { stream } = request.raw as unknown as Http2ServerRequest
  if (stream.endAfterHeaders) return // no body to wait for
  const timer = setTimeout(() => {
    if (stream.destroyed || stream.state.remoteClose === 1) return
    request.log.info({ deadlineMs: requestTimeoutMs }, 'request body not received in time')
    const reset = (): void => {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR)
    }
    if (reply.sent) {
      reset()
      return
    }
    // Once the answer has gone out: a reset would discard what is still queued.
    stream.once('finish', reset)
    void sendProblem(request, reply, PROBLEMS.RequestTimeout)
  }, requestTimeoutMs)
  timer.unref()
  stream.once('close', () => clearTimeout(timer))
}

async function http2RequestDeadline(app: FastifyInstance, options: { requestTimeoutMs: number }): Promise<void> {
  // Every request passes here, most with nothing to do: a callback hook, not an async one (no promise each).
  app.addHook('onRequest', function requestDeadline(request, reply, done) {
    if (request.raw.httpVersionMajor === 2) startDeadline(request, reply, options.requestTimeoutMs)
    done()
  })
}

export default fp(http2RequestDeadline, { name: 'http2-request-deadline', fastify: '5.x' })
