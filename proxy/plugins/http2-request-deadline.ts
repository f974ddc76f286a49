// The whole-request deadline (REQUEST_TIMEOUT_MS) for HTTP/2. Node enforces it on HTTP/1.1 connections
// only; an HTTP/2 stream whose body trickles in would otherwise hold its upload to the API open for as long
// as the client likes (the session's idle timeout never fires while bytes keep coming). A stream still
// receiving its body at the deadline is answered 408 (if nothing was answered yet) and then reset, which
// also ends the upload it was feeding.
import { constants, type Http2ServerRequest } from 'node:http2'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sendProblem } from '../../common/problem.js'

async function http2RequestDeadline (app: FastifyInstance, options: { requestTimeoutMs: number }): Promise<void> {
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.httpVersionMajor !== 2) return
    const { stream } = request.raw as unknown as Http2ServerRequest
    if (stream.endAfterHeaders) return // no body to wait for
    const timer = setTimeout(() => {
      if (stream.destroyed || stream.state.remoteClose === 1) return
      request.log.info({ deadlineMs: options.requestTimeoutMs }, 'request body not received in time')
      const reset = (): void => { if (!stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR) }
      if (reply.sent) {
        reset()
        return
      }
      // Once the answer has gone out: a reset would discard what is still queued.
      stream.once('finish', reset)
      void sendProblem(request, reply, { status: 408, code: 'GH_REQUEST_TIMEOUT', slug: 'request-timeout', title: 'Request Timeout', detail: 'The request did not arrive in time' })
    }, options.requestTimeoutMs)
    timer.unref()
    stream.once('close', () => clearTimeout(timer))
  })
}

export default fp(http2RequestDeadline, { name: 'http2-request-deadline', fastify: '5.x' })
