// Traces for the API: a server span per request, a child of the caller's W3C traceparent (the edge's span),
// with Prisma's spans for the request's database work beneath it. buildApp registers this plugin only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (see common/tracing.ts for the provider).
//
// The traceparent is taken from every request, signed by the edge or not: a trace id is a correlation
// label, not a credential — a caller that reaches the API directly can only choose which trace its own
// request's spans join — and starting the span before authentication keeps rejected requests in the trace.
// @see https://opentelemetry.io/docs/specs/semconv/http/http-spans/
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { startTracing } from '../../common/tracing.ts'
import { installPrismaTracing, withAppTracerProvider } from '../db/prisma-tracing.ts'

// Probes and scrapes every few seconds would bury the traces that matter.
const UNTRACED = new Set(['/health', '/ready', '/metrics'])

async function tracing(app: FastifyInstance, options: { otlpEndpoint: string; serviceName: string }): Promise<void> {
  const tracing = await startTracing(options)
  app.addHook('onClose', async () => {
    await tracing.shutdown()
  })
  await installPrismaTracing()

  const traced = new WeakMap<FastifyRequest, { span: Span; context: Context }>()
  const end = (request: FastifyRequest, statusCode: number | undefined): void => {
    const entry = traced.get(request)
    if (entry === undefined) return
    traced.delete(request)
    if (statusCode !== undefined) entry.span.setAttribute('http.response.status_code', statusCode)
    if (statusCode === undefined || statusCode >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR })
    entry.span.end()
  }

  // A callback hook, so that everything after it — later hooks, the handler, the resolvers and their
  // database work — runs inside the request's context (Fastify keeps it across reading the body).
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url
    if (route !== undefined && UNTRACED.has(route)) return done()
    const parent = tracing.extract(request.headers)
    const span = tracing.tracer.startSpan(
      route !== undefined ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0],
          ...(route !== undefined ? { 'http.route': route } : {}),
          'client.address': request.ip,
          'gatehouse.request_id': request.id,
        },
      },
      parent,
    )
    const active = withAppTracerProvider(trace.setSpan(parent, span), tracing.provider)
    traced.set(request, { span, context: active })
    context.with(active, done)
  })

  // Server faults only: a 4xx is the caller's mistake, visible enough in the status code.
  app.addHook('onError', async (request, _reply, error) => {
    const status = (error as { statusCode?: number }).statusCode
    if (status === undefined || status >= 500) traced.get(request)?.span.recordException(error)
  })
  app.addHook('onResponse', async (request, reply) => {
    end(request, reply.statusCode)
  })
  app.addHook('onRequestAbort', async request => {
    end(request, undefined)
  })
}

export default fp(tracing, { name: 'tracing', fastify: '5.x' })
