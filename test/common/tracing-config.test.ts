// The two tracing settings, validated like every other: the OTLP endpoint must be an http(s) URL, the
// service names default per process, and spans are posted to the endpoint's /v1/traces.
import t from 'tap'
import { ConfigError } from '../../common/env-config.ts'
import { tracesUrl } from '../../common/tracing.ts'
import { loadProxyConfig } from '../../proxy/config.ts'
import { loadServerConfig } from '../../server/config.ts'

const SECRET = 'a-shared-secret-of-at-least-32-characters'
const loaders = {
  api: (env: Record<string, string>) => loadServerConfig({ IDENTITY_SECRET: SECRET, ...env }).tracing,
  proxy: (env: Record<string, string>) => loadProxyConfig({ IDENTITY_SECRET: SECRET, ...env }).tracing,
}

t.test("unset means off, under each process's own service name", async t => {
  t.strictSame(loaders.api({}), { otlpEndpoint: undefined, serviceName: 'gatehouse-api' })
  t.strictSame(loaders.proxy({}), { otlpEndpoint: undefined, serviceName: 'gatehouse-proxy' })
  t.strictSame(
    loaders.api({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SERVICE_NAME: '' }),
    { otlpEndpoint: undefined, serviceName: 'gatehouse-api' },
    'empty is unset',
  )
})

t.test('both settings are read', async t => {
  for (const load of Object.values(loaders)) {
    t.strictSame(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_SERVICE_NAME: 'edge-eu-1' }), {
      otlpEndpoint: 'http://jaeger:4318',
      serviceName: 'edge-eu-1',
    })
  }
})

t.test('an endpoint that is not an http(s) URL is refused, naming the variable', async t => {
  for (const [name, load] of Object.entries(loaders)) {
    for (const endpoint of ['jaeger:4318', 'grpc://jaeger:4317', 'http://', 'https://exa mple.com']) {
      let error: unknown
      try {
        load({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })
      } catch (caught) {
        error = caught
      }
      t.ok(error instanceof ConfigError, `${name}: ${endpoint} is refused`)
      t.match((error as ConfigError).problems, [/^OTEL_EXPORTER_OTLP_ENDPOINT: /], 'one problem, naming the variable')
    }
  }
})

t.test("spans go to the endpoint's /v1/traces, as the OTLP exporter specification says", async t => {
  t.equal(tracesUrl('http://jaeger:4318'), 'http://jaeger:4318/v1/traces')
  t.equal(tracesUrl('http://jaeger:4318/'), 'http://jaeger:4318/v1/traces')
  t.equal(tracesUrl('https://collector.example.com/otlp'), 'https://collector.example.com/otlp/v1/traces')
})
