// OpenTelemetry tracing, shared by the API and the edge. Each app configured with an OTLP endpoint starts
// its own tracer provider (never registered as the process-wide one, so many apps can live in one process
// and each flushes its own spans when it closes); spans go over OTLP/HTTP with JSON encoding to
// <endpoint>/v1/traces. Without an endpoint the apps never call startTracing: the SDK is imported only
// inside it (this module itself loads nothing but @opentelemetry/api, which is a no-op facade).
// @see https://opentelemetry.io/docs/specs/otel/protocol/exporter/
import {
  ROOT_CONTEXT,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Context,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api'
import type { IncomingHttpHeaders } from 'node:http'
import { ConfigError } from './env-config.ts'

export interface TracingConfig {
  /** OTLP/HTTP collector base URL (OTEL_EXPORTER_OTLP_ENDPOINT); undefined: no tracing at all. */
  otlpEndpoint: string | undefined
  serviceName: string
}

export interface Tracing {
  tracer: Tracer
  provider: TracerProvider
  /** The caller's W3C trace context from request headers (ROOT_CONTEXT when absent or malformed). */
  extract(headers: IncomingHttpHeaders): Context
  /** The traceparent header naming the active span of `context`. */
  traceparent(context: Context): string | undefined
  /** Exports what is still buffered, then stops: the app's onClose. */
  shutdown(): Promise<void>
}

/** Validates the two settings as the config loaders do (their errors name the variable). */
export function tracingConfig(otlpEndpoint: string | undefined, serviceName: string): TracingConfig {
  if (
    otlpEndpoint !== undefined &&
    (!URL.canParse(otlpEndpoint) || !/^https?:$/.test(new URL(otlpEndpoint).protocol))
  ) {
    throw new ConfigError([`OTEL_EXPORTER_OTLP_ENDPOINT: "${otlpEndpoint}" is not an http(s) URL`])
  }
  return { otlpEndpoint, serviceName }
}

/** Where spans are posted: the base endpoint plus the signal path, as the OTLP exporter spec says. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, '')}/v1/traces`

let started = 0
/** How many tracer providers this process has started (a test proves an unconfigured app starts none). */
export const tracerProvidersStarted = (): number => started

export async function startTracing(config: { otlpEndpoint: string; serviceName: string }): Promise<Tracing> {
  const [sdk, { OTLPTraceExporter }, { defaultResource, resourceFromAttributes }, { W3CTraceContextPropagator }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/core'),
    ])
  const provider = new sdk.BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': config.serviceName })),
    // Explicit, so OTEL_TRACES_SAMPLER cannot change it behind the config: record every trace the caller
    // has not marked unsampled (flag 00 in its traceparent).
    sampler: new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }),
    spanProcessors: [
      new sdk.BatchSpanProcessor(
        new OTLPTraceExporter({
          url: tracesUrl(config.otlpEndpoint),
          // A collector that does not answer must not hold up shutdown for long: the spans are lost instead.
          timeoutMillis: 3000,
        }),
      ),
    ],
  })
  started++
  const propagator = new W3CTraceContextPropagator()
  return {
    tracer: provider.getTracer(config.serviceName),
    provider,
    extract: headers => propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter),
    traceparent(context) {
      const carrier: Record<string, string> = {}
      propagator.inject(context, carrier, defaultTextMapSetter)
      return carrier.traceparent
    },
    shutdown: () => provider.shutdown(),
  }
}
