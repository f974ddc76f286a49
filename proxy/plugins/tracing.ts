// Traces at the edge: a server span per request (continuing the client's W3C traceparent when it sends a
// valid one, else the root of a new trace) and a client span for the call to the API, whose traceparent
// goes upstream so the API's spans hang beneath it. buildProxyApp registers this plugin only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; without it request-context.ts alone makes the forwarded traceparent.
// Parents are passed explicitly, so the edge needs no process-wide context manager.
// @see https://www.w3.org/TR/trace-context/
import { SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { startTracing } from '../../common/tracing.ts'

/** What forward.ts calls around each attempt to reach the API. */
export interface UpstreamTracing {
  /** Starts the client span; returns the traceparent to send upstream. */
  started(request: FastifyRequest): string
  /** The API's status, or why it could not be reached. */
  ended(request: FastifyRequest, outcome: number | Error): void
}

declare module 'fastify' {
  interface FastifyInstance {
    edgeTracing: UpstreamTracing
  }
}

const UNTRACED = new Set(['/health', '/ready'])

async function edgeTracing(
  app: FastifyInstance,
  options: { otlpEndpoint: string; serviceName: string },
): Promise<void> {
  const tracing = await startTracing(options)
  app.addHook('onClose', async () => {
    await tracing.shutdown()
  })

  const traced = new WeakMap<FastifyRequest, { span: Span; context: Context; upstream?: Span }>()

  const endUpstream = (entry: { upstream?: Span }, outcome: number | Error): void => {
    const span = entry.upstream
    if (span === undefined) return
    entry.upstream = undefined
    if (typeof outcome === 'number') span.setAttribute('http.response.status_code', outcome)
    else span.recordException(outcome)
    if (typeof outcome !== 'number' || outcome >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  }

  app.addHook('onRequest', async request => {
    const route = request.routeOptions.url
    if (route !== undefined && UNTRACED.has(route)) return
    const parent = tracing.extract(request.headers)
    const span = tracing.tracer.startSpan(
      request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0],
          'network.protocol.version': request.raw.httpVersion,
          'client.address': request.ip,
          'gatehouse.request_id': request.id,
        },
      },
      parent,
    )
    const active = trace.setSpan(parent, span)
    traced.set(request, { span, context: active })
    // Answered at the edge (cache, 401, 429): still the edge's span that any later hop would hang under.
    request.traceparent = tracing.traceparent(active) ?? request.traceparent
  })

  app.addHook('onResponse', async (request, reply) => {
    const entry = traced.get(request)
    if (entry === undefined) return
    traced.delete(request)
    endUpstream(entry, reply.statusCode)
    if (request.principal !== null) entry.span.setAttribute('gatehouse.tenant', request.principal.tenant)
    entry.span.setAttribute('http.response.status_code', reply.statusCode)
    if (reply.statusCode >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR })
    entry.span.end()
  })

  app.decorate('edgeTracing', {
    started(request) {
      const entry = traced.get(request)
      if (entry === undefined) return request.traceparent
      // A retried attempt (another instance after a refused connect) gets a span of its own.
      endUpstream(entry, new Error('retried on another API instance'))
      entry.upstream = tracing.tracer.startSpan(
        `${request.method} upstream`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'http.request.method': request.method, 'url.path': request.url.split('?')[0] },
        },
        entry.context,
      )
      return tracing.traceparent(trace.setSpan(entry.context, entry.upstream)) ?? request.traceparent
    },
    ended(request, outcome) {
      const entry = traced.get(request)
      if (entry !== undefined) endUpstream(entry, outcome)
    },
  } satisfies UpstreamTracing)
}

export default fp(edgeTracing, { name: 'edge-tracing', fastify: '5.x', dependencies: ['request-context'] })
