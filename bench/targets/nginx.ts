// nginx from Debian doing the edge's work: TLS 1.2+ with the same certificate, basic auth against the same
// bcrypt htpasswd (crypt(3) on every request: nginx keeps no verification cache), limit_req per user at a
// rate nothing reaches (so the shared-memory bookkeeping runs on every request), proxy_cache keyed per user
// honouring the API's s-maxage (no-store bypasses it, concurrent misses wait for one fetch, as ours), the
// same security headers, keep-alive to the API. The identity headers come from a table of pre-signed
// requests (see signScenarioRequests), rewritten and reloaded before each run.
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Htpasswd } from '../credentials.ts'
import { startProcess, waitUntilAnswers } from '../processes.ts'
import type { Scenario } from '../scenarios.ts'
import { EDGE_SECURITY_HEADER_VALUES } from '../security-headers.ts'
import type { TargetId } from '../settings.ts'
import { edgeCredentials, signScenarioRequests, type Target, type TargetContext } from './target.ts'

export const NGINX = '/usr/sbin/nginx'
// OpenSSL's names for the suites proxy/app.ts allows (TLS 1.3's own suites are always on).
const TLS12_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305'

export interface NginxOptions {
  id: TargetId
  label: string
  port: number
  allCores: boolean
  htpasswd: Htpasswd
}

// nginx has no escape for "$" in a string: nothing the bench writes may contain one.
const quote = (text: string): string => {
  if (text.includes('$')) throw new Error(`nginx config value with "$": ${text}`)
  return `"${text.replace(/["\\]/g, character => `\\${character}`)}"`
}

function config(context: TargetContext, options: NginxOptions, prefix: string): string {
  const { credentials } = context
  const signed = signScenarioRequests(context.identitySecret, context.scenarios, 'bench-nginx')
  const timestamp = signed[0]?.timestamp ?? '0'
  const headers = [
    ...Object.entries(EDGE_SECURITY_HEADER_VALUES).map(([name, value]) => `add_header ${name} ${quote(value)} always;`),
    'add_header x-cache-status $upstream_cache_status always;',
  ].join('\n      ')
  const hide = Object.keys(EDGE_SECURITY_HEADER_VALUES)
    .map(name => `proxy_hide_header ${name};`)
    .join('\n      ')
  return `
# Written by bench/targets/nginx.ts for one benchmark run; not a production configuration.
${process.getuid?.() === 0 ? 'user root root;' : ''}
worker_processes ${options.allCores ? 'auto' : '1'};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  # Node keeps a connection open for any number of requests; nginx's default closes it after 1000.
  keepalive_requests 1000000;
  server_tokens off;
  # The signature table's keys (login, method, URL) are longer than the default buckets take.
  map_hash_bucket_size 256;

  proxy_cache_path ${prefix}/cache levels=1:2 keys_zone=edge:10m max_size=64m inactive=60s use_temp_path=off;
  limit_req_zone $remote_user zone=per_user:10m rate=1000000r/s;

  upstream api {
    server ${new URL(context.apiOrigin).host};
    keepalive 128;
  }

  map $remote_user $gatehouse_user { "~^(?<name>[^@]+)@" $name; default ""; }
  map $remote_user $gatehouse_tenant { "~@(?<slug>[^@]+)$" $slug; default ""; }
  # The signature of exactly this user, method and URL; anything else reaches the API unsigned and gets 401.
  map "$remote_user $request_method $request_uri" $gatehouse_signature {
    ${signed.map(entry => `${quote(entry.key)} ${quote(entry.signature)};`).join('\n    ')}
    default "";
  }
  # The digest of the body that signature covers; "" (no header sent) for a request without one.
  map "$remote_user $request_method $request_uri" $gatehouse_content_digest {
    ${signed.map(entry => `${quote(entry.key)} ${quote(entry.contentDigest)};`).join('\n    ')}
    default "";
  }
  map $http_cache_control $client_no_store { "~*no-store" 1; default 0; }

  # Compression as "gzip on" gives it, at its default level (1), for the JSON the API sends: the cache keeps the
  # uncoded response and every hit is compressed again.
  gzip on;
  gzip_types application/json;
  gzip_min_length 1024;
  gzip_proxied any;
  gzip_vary on;

  server {
    listen 127.0.0.1:${options.port} ssl http2;
    ssl_certificate ${credentials.certChainFile};
    ssl_certificate_key ${credentials.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${TLS12_CIPHERS};
    ssl_prefer_server_ciphers on;

    location = /health {
      ${headers}
      default_type application/json;
      return 200 '{"status":"ok"}';
    }

    location ~ ^/(api/v1(/|$)|graphql$) {
      ${headers}
      auth_basic "Gatehouse";
      auth_basic_user_file ${options.htpasswd.file};
      limit_req zone=per_user burst=1000 nodelay;
      limit_req_status 429;

      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header traceparent "00-$request_id-00f067aa0ba902b7-01";
      proxy_set_header X-Request-Id bench-nginx;
      proxy_set_header X-Gatehouse-Tenant $gatehouse_tenant;
      proxy_set_header X-Gatehouse-User $gatehouse_user;
      proxy_set_header X-Gatehouse-Timestamp ${timestamp};
      proxy_set_header X-Gatehouse-Signature $gatehouse_signature;
      proxy_set_header Content-Digest $gatehouse_content_digest;
      ${hide}

      proxy_cache edge;
      proxy_cache_key "$remote_user $request_method $request_uri";
      proxy_cache_lock on;
      proxy_cache_bypass $client_no_store;
      proxy_no_cache $client_no_store;
    }

    location / {
      ${headers}
      return 404;
    }
  }
}
`
}

export async function startNginx(context: TargetContext, options: NginxOptions): Promise<Target> {
  const prefix = join(context.dir, options.id)
  mkdirSync(prefix, { recursive: true })
  const configFile = join(prefix, 'nginx.conf')
  const write = (): void => writeFileSync(configFile, config(context, options, prefix))
  write()
  const nginx = startProcess(options.id, NGINX, ['-p', prefix, '-c', configFile, '-e', join(prefix, 'error.log')], {
    logFile: join(prefix, 'stderr.log'),
  })
  const origin = `https://127.0.0.1:${options.port}`
  const healthy = (what?: string): Promise<void> =>
    waitUntilAnswers(nginx, `${origin}/health`, { caCert: context.credentials.caCert, what })
  await healthy()
  return {
    id: options.id,
    label: options.label,
    workers: options.allCores ? `worker_processes auto (${availableParallelism()})` : 'worker_processes 1',
    origin,
    logFiles: [nginx.logFile, join(prefix, 'error.log')],
    rootPids: () => [nginx.child.pid!],
    notApplicable: () => undefined,
    securityHeaders: true,
    omissions: ['no RateLimit-* headers', 'a write does not invalidate cached reads (no purge in open-source nginx)'],
    async prepare(scenario: Scenario) {
      // Fresh signatures: a graceful reload (new workers read the new table; the cache zone is kept).
      write()
      nginx.child.kill('SIGHUP')
      await sleep(300)
      await healthy('its /health answered 200 after a reload')
      return edgeCredentials(scenario)
    },
    expectedHeaders(scenario: Scenario): Record<string, RegExp> {
      if (scenario.login === undefined) return {}
      // A GET the client asked not to be stored bypasses the cache; one the upstream answers with no-store misses it.
      const forwardedGet = /no-store/.test(scenario.headers['cache-control'] ?? '') ? /^BYPASS$/ : /^MISS$/
      return { 'x-cache-status': scenario.cached ? /^HIT$/ : scenario.method === 'GET' ? forwardedGet : /^$|^-$/ }
    },
    stop: () => nginx.stop('SIGQUIT'),
  }
}
