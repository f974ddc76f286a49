// The manifests' wiring, checked as the processes will read it: each container's environment (rendered
// ConfigMaps, create-secrets.sh's Secrets) loaded by the real config loaders; every Service, port, probe,
// shutdown timing against what the process does; the release order. Pod security: security.test.ts.
import t from 'tap'
import { loadOperatorEnv } from '../../server/db/operator-session.ts'
import { loadServerConfig, ServerEnvSchema } from '../../server/config.ts'
import { loadProxyConfig, ProxyEnvSchema } from '../../proxy/config.ts'
import { readYaml } from '../ops/ops-helpers.ts'
import {
  allContainers,
  generatedSecrets,
  matches,
  named,
  ofKind,
  OVERLAYS,
  podTemplate,
  render,
  resolveEnv,
  workloads,
  type K8sObject,
} from './deploy-helpers.ts'

const secrets = generatedSecrets()
const container = (workload: K8sObject, name: string) =>
  allContainers(podTemplate(workload).spec).find(c => c.name === name)!
const portOf = (workload: K8sObject, port: string | number): number | undefined =>
  typeof port === 'number'
    ? port
    : allContainers(podTemplate(workload).spec)
        .flatMap(c => c.ports ?? [])
        .find(p => p.name === port)?.containerPort

for (const overlay of OVERLAYS) {
  const objects = render(overlay)
  const deployment = (name: string): K8sObject => named(objects, 'Deployment', name)!
  const proxy = deployment('gatehouse-proxy')
  const api = deployment('gatehouse-api')
  const [job] = ofKind(objects, 'Job')

  t.test(`${overlay}: the proxy's environment loads, and its ports, probes and files match its settings`, async t => {
    const env = resolveEnv(objects, 'gatehouse', container(proxy, 'proxy'), secrets)
    for (const key of Object.keys(env)) t.ok(key in ProxyEnvSchema.properties, `${key} is a setting of the proxy`)
    const config = loadProxyConfig(env)
    t.equal(config.workers, 1, 'PROXY_WORKERS=1: pods scale, not workers')
    t.ok(
      proxy.spec.replicas >= 2 && named(objects, 'HorizontalPodAutoscaler', 'gatehouse-proxy')!.spec.minReplicas >= 2,
      'at least two',
    )
    t.equal(config.tls.kind, 'files', 'its own certificate files, never a per-pod local CA')
    const mounts = container(proxy, 'proxy').volumeMounts as Array<{
      name: string
      mountPath: string
      subPath?: string
    }>
    const mountOf = (path: string) => mounts.find(mount => path.startsWith(`${mount.mountPath}/`))
    for (const file of config.tls.kind === 'files'
      ? [config.tls.certFile, config.tls.keyFile, config.auth.htpasswdFile]
      : []) {
      const mount = mountOf(file)
      t.ok(
        mount !== undefined && mount.subPath === undefined,
        `${file} is in a mounted directory (no subPath: updates reach it)`,
      )
      const volume = podTemplate(proxy).spec.volumes.find((v: { name: string }) => v.name === mount?.name)
      const key = file.split('/').at(-1)!
      t.ok(volume?.secret !== undefined, `${file} comes from Secret ${volume?.secret?.secretName}`)
      if (volume?.secret?.secretName === 'gatehouse-tls' && overlay !== 'dev') {
        t.ok(
          named(objects, 'Certificate', 'gatehouse-edge')?.spec.secretName === 'gatehouse-tls',
          'cert-manager writes it',
        )
      } else {
        t.ok(key in (secrets.get(`gatehouse/${volume?.secret?.secretName}`) ?? {}), `create-secrets.sh makes ${key}`)
      }
    }
    const service = named(objects, 'Service', 'gatehouse-proxy')!
    t.equal(service.spec.type, 'LoadBalancer')
    t.same(
      service.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, portOf(proxy, p.targetPort)]),
      [
        [443, config.httpsPort],
        [80, config.httpPort],
      ],
    )
    t.equal(config.publicHttpsPort, 443, 'redirects name the port clients see')
    t.equal(portOf(proxy, 'metrics'), config.metrics.port)
    const probes = container(proxy, 'proxy')
    t.match(probes.readinessProbe.httpGet, { path: '/ready', scheme: 'HTTPS' })
    t.equal(
      portOf(proxy, probes.readinessProbe.httpGet.port),
      config.httpsPort,
      '/ready over HTTPS (a 308 would count as ready)',
    )
    t.match(probes.livenessProbe.httpGet, { path: '/health' })
    t.equal(portOf(proxy, probes.livenessProbe.httpGet.port), config.httpPort, 'liveness on the port answered in place')
    const upstream = config.upstreams[0]!
    t.equal(config.upstreams.length, 1)
    const apiService = named(objects, 'Service', upstream.hostname)!
    t.ok(
      apiService !== undefined && apiService.spec.type === 'ClusterIP',
      `UPSTREAM_URLS names the API's ClusterIP Service`,
    )
    const servicePort = apiService.spec.ports.find((p: { port: number }) => p.port === Number(upstream.port))
    t.equal(
      portOf(api, servicePort.targetPort),
      loadServerConfig(resolveEnv(objects, 'gatehouse', container(api, 'api'), secrets)).port,
    )
    const redis = new URL(config.redisUrl!)
    t.equal(
      redis.password,
      secrets.get('gatehouse/gatehouse-redis')!.password,
      'the Redis URL carries the Redis password',
    )
    if (overlay !== 'production-managed') {
      const redisService = named(objects, 'Service', redis.hostname)!
      t.ok(redisService !== undefined, `REDIS_URL names Service ${redis.hostname}`)
      const haproxy = deployment('gatehouse-redis')
      t.ok(matches(redisService.spec.selector, podTemplate(haproxy).metadata.labels))
      t.equal(portOf(haproxy, redisService.spec.ports[0].targetPort), Number(redis.port))
    }
    t.equal(
      config.identitySecret,
      loadServerConfig(resolveEnv(objects, 'gatehouse', container(api, 'api'), secrets)).identity.secret,
      'the API verifies what the proxy signs',
    )
  })

  t.test(`${overlay}: the API's environment loads, on Postgres as the app role`, async t => {
    const env = resolveEnv(objects, 'gatehouse', container(api, 'api'), secrets)
    for (const key of Object.keys(env)) t.ok(key in ServerEnvSchema.properties, `${key} is a setting of the API`)
    for (const key of ['DATABASE_URL', 'IDENTITY_SECRET', 'TRUST_PROXY']) {
      t.ok(key in env, `${key} is set (else a development fallback)`)
    }
    const config = loadServerConfig(env)
    t.equal(config.database.kind, 'postgres')
    const url = new URL(config.database.kind === 'postgres' ? config.database.url : '')
    t.equal(url.username, 'gatehouse_app')
    if (overlay !== 'production-managed') {
      t.equal(url.hostname, 'gatehouse-db-rw', 'the CloudNativePG primary (read-write) Service')
      const cluster = named(objects, 'Cluster', 'gatehouse-db')!
      t.equal(url.pathname, `/${cluster.spec.bootstrap.initdb.database}`)
      t.ok(cluster.spec.instances >= 2, 'a primary and replicas')
      const hpa = named(objects, 'HorizontalPodAutoscaler', 'gatehouse-api')!
      const budget = Number(cluster.spec.postgresql.parameters.max_connections) - 20
      const poolMax = config.database.kind === 'postgres' ? config.database.poolMax : Infinity
      const ceiling = `${hpa.spec.maxReplicas} x ${poolMax}`
      t.ok(
        hpa.spec.maxReplicas * poolMax <= budget,
        `the API's ceiling (${ceiling}) fits max_connections less 20 reserved`,
      )
    }
    t.ok(
      Array.isArray(config.trustProxy) && config.trustProxy.length > 0,
      'forwarding believed from the pod network only',
    )
    t.equal(config.host, '0.0.0.0')
    const service = named(objects, 'Service', 'gatehouse-api')!
    t.ok(matches(service.spec.selector, podTemplate(api).metadata.labels))
    const probes = container(api, 'api')
    t.match(probes.readinessProbe.httpGet, { path: '/ready' })
    t.match(probes.livenessProbe.httpGet, { path: '/health' })
    t.equal(portOf(api, probes.readinessProbe.httpGet.port), config.port)
    t.equal(portOf(api, probes.livenessProbe.httpGet.port), config.port)
    t.ok(api.spec.replicas >= 2)
  })

  t.test(`${overlay}: shutdown timings let a rollout drop no request`, async t => {
    const proxyConfig = loadProxyConfig(resolveEnv(objects, 'gatehouse', container(proxy, 'proxy'), secrets))
    const apiConfig = loadServerConfig(resolveEnv(objects, 'gatehouse', container(api, 'api'), secrets))
    for (const [workload, graceMs, drainMs] of [
      [proxy, proxyConfig.shutdownGraceMs, 0],
      [api, apiConfig.shutdownGraceMs, apiConfig.shutdownDrainDelayMs],
    ] as const) {
      const spec = podTemplate(workload).spec
      const preStop = spec.containers[0]!.lifecycle.preStop.sleep.seconds as number
      t.ok(preStop >= 3, `${workload.metadata.name}: preStop ${preStop} s while endpoints drop the pod`)
      t.ok(
        spec.terminationGracePeriodSeconds >= preStop + graceMs / 1000 + 2,
        `${workload.metadata.name}: grace ${spec.terminationGracePeriodSeconds} s covers preStop + SHUTDOWN_GRACE_MS`,
      )
      t.ok(drainMs < graceMs, 'the drain fits in the grace period')
      t.same(workload.spec.strategy.rollingUpdate.maxUnavailable, 0, 'a new pod is ready before an old one goes')
    }
    t.ok(
      apiConfig.shutdownDrainDelayMs >= container(api, 'api').readinessProbe.periodSeconds * 1000,
      'the drain outlasts a readiness period',
    )
  })

  t.test(`${overlay}: the migration runs first, as the owner, once per release`, async t => {
    t.same(container(job!, 'migrate').command, ['node', 'dist/scripts/db-migrate.js'])
    const env = loadOperatorEnv(resolveEnv(objects, 'gatehouse', container(job!, 'migrate'), secrets))
    t.equal(new URL(env.DATABASE_OWNER_URL!).username, 'gatehouse_owner')
    t.equal(
      env.DATABASE_URL,
      resolveEnv(objects, 'gatehouse', container(api, 'api'), secrets).DATABASE_URL,
      'it sets the password the API uses',
    )
    const image = container(api, 'api').image
    const tag = image.split(':')[1]
    t.equal(job!.metadata.name, `gatehouse-migrate-${tag}`, 'the Job is named after the release')
    const wait = container(api, 'wait-for-migration')
    t.equal(wait.env!.find(e => e.name === 'MIGRATION_JOB')!.value, job!.metadata.name, 'the API waits for that Job')
    t.equal(podTemplate(api).spec.initContainers?.[0]?.name, 'wait-for-migration', 'the only init container')
    for (const workload of workloads(objects).filter(
      w =>
        w.metadata.labels?.['app.kubernetes.io/name'] === 'gatehouse' &&
        w.metadata.name.startsWith('gatehouse-') &&
        !w.metadata.name.includes('redis'),
    )) {
      for (const c of allContainers(podTemplate(workload).spec)) {
        t.equal(c.image, image, `${workload.metadata.name}/${c.name}: one image for all`)
      }
    }
    // The whole command, node's flags included: the proxy's heap settings are part of how it runs.
    const { scripts } = readYaml('package.json')
    t.same(container(proxy, 'proxy').command, scripts['start:proxy'].split(' '), 'the proxy runs npm run start:proxy')
    t.same(container(api, 'api').command, scripts.start.split(' '), 'the API runs npm start')
  })

  t.test(
    `${overlay}: every Service selects pods and targets ports they have; PDBs and spread select them too`,
    async t => {
      for (const service of ofKind(objects, 'Service')) {
        const selected = workloads(objects).filter(
          w =>
            w.metadata.namespace === service.metadata.namespace &&
            matches(service.spec.selector, podTemplate(w).metadata.labels),
        )
        t.ok(
          selected.length > 0,
          `Service ${service.metadata.name} selects ${selected.map(w => w.metadata.name).join(', ')}`,
        )
        for (const port of service.spec.ports) {
          t.ok(
            selected.every(w => portOf(w, port.targetPort) !== undefined),
            `${service.metadata.name}:${port.port} → a port of the pods`,
          )
        }
      }
      for (const pdb of ofKind(objects, 'PodDisruptionBudget')) {
        t.ok(
          workloads(objects).some(w => matches(pdb.spec.selector.matchLabels, podTemplate(w).metadata.labels)),
          `PDB ${pdb.metadata.name} selects pods`,
        )
      }
      for (const workload of ofKind(objects, 'Deployment', 'StatefulSet')) {
        const spread = podTemplate(workload).spec.topologySpreadConstraints ?? []
        const zone = spread.find((c: { topologyKey: string }) => c.topologyKey === 'topology.kubernetes.io/zone')
        t.ok(
          zone !== undefined && matches(zone.labelSelector.matchLabels, podTemplate(workload).metadata.labels),
          `${workload.metadata.name} spreads over zones`,
        )
        if (overlay !== 'dev' && ['gatehouse-proxy', 'gatehouse-api'].includes(workload.metadata.name)) {
          t.equal(zone?.whenUnsatisfiable, 'DoNotSchedule')
        }
      }
      for (const hpa of ofKind(objects, 'HorizontalPodAutoscaler')) {
        t.ok(
          named(objects, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name),
          `HPA ${hpa.metadata.name} targets a workload`,
        )
      }
    },
  )
}
