// Prisma's database spans (prisma:client:operation, …:transaction, …:db_query with the SQL) for traced
// API apps. Prisma reads one tracing hook per process (a global that @prisma/instrumentation installs), and
// OpenTelemetry carries the active span across awaits only with a process-wide context manager, so both
// are installed once, the first time a traced app is built — never at import, never when tracing is off.
// The hook's tracer provider is a router: it uses the provider of the app whose request is running
// (put into the context by server/plugins/tracing.ts), so several traced apps in one process (tests) each
// get their own database spans, and queries outside a traced request record nothing.
// @see https://www.prisma.io/docs/orm/prisma-client/observability-and-logging/opentelemetry-tracing
import { context, createContextKey, trace, type Context, type TracerProvider } from '@opentelemetry/api'

const APP_TRACER_PROVIDER = createContextKey('gatehouse app tracer provider')

/** The context a traced request's work runs in: its span, and which app's provider records its children. */
export const withAppTracerProvider = (active: Context, provider: TracerProvider): Context =>
  active.setValue(APP_TRACER_PROVIDER, provider)

const routingProvider: TracerProvider = {
  getTracer(name, version, options) {
    const provider = context.active().getValue(APP_TRACER_PROVIDER) as TracerProvider | undefined
    // Outside a traced request: the global provider, a no-op unless someone registered one.
    return (provider ?? trace.getTracerProvider()).getTracer(name, version, options)
  },
}

let installing: Promise<void> | undefined

export function installPrismaTracing(): Promise<void> {
  installing ??= (async () => {
    const [{ AsyncLocalStorageContextManager }, { PrismaInstrumentation }] = await Promise.all([
      import('@opentelemetry/context-async-hooks'),
      import('@prisma/instrumentation'),
    ])
    // false when another context manager is already registered (e.g. an embedding process's SDK): that one
    // carries contexts just as well.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    const instrumentation = new PrismaInstrumentation({ enabled: false })
    instrumentation.setTracerProvider(routingProvider)
    instrumentation.enable()
  })()
  return installing
}
