// The NetworkPolicies evaluated the way a CNI does (a pod is isolated once a policy selects it; then only
// what some policy allows gets in), for every pod the overlays run and the peers outside them; the paths
// allowed must be exactly the ones below: only the proxy takes outside traffic, and so on.
import t from 'tap'
import { matches, ofKind, podTemplate, render, workloads, type K8sObject } from './deploy-helpers.ts'

interface Peer {
  name: string
  namespace?: string
  namespaceLabels?: Record<string, string>
  labels?: Record<string, string>
  external?: boolean
}
interface Target extends Peer {
  ports: Array<{ name?: string; containerPort: number }>
}

const PEERS: Peer[] = [
  { name: 'internet', external: true },
  { name: 'prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } },
  { name: 'cnpg-operator', namespace: 'cnpg-system', labels: { 'app.kubernetes.io/name': 'cloudnative-pg' } },
  { name: 'another-pod-in-gatehouse', namespace: 'gatehouse', labels: { app: 'debug' } },
  {
    name: 'a-pod-elsewhere',
    namespace: 'default',
    labels: { 'app.kubernetes.io/name': 'gatehouse', 'app.kubernetes.io/component': 'proxy' },
  },
]
// CloudNativePG makes the Postgres pods itself: their labels and ports as the operator sets them.
const POSTGRES: Target = {
  name: 'postgres',
  namespace: 'gatehouse',
  labels: { 'cnpg.io/cluster': 'gatehouse-db', 'cnpg.io/podRole': 'instance' },
  ports: [
    { name: 'postgresql', containerPort: 5432 },
    { name: 'status', containerPort: 8000 },
    { name: 'metrics', containerPort: 9187 },
  ],
}

function targets(objects: K8sObject[]): Target[] {
  const pods: Target[] = workloads(objects).map(workload => ({
    name: podTemplate(workload).metadata.labels['app.kubernetes.io/component']!,
    namespace: workload.metadata.namespace!,
    labels: podTemplate(workload).metadata.labels,
    ports: [...(podTemplate(workload).spec.initContainers ?? []), ...podTemplate(workload).spec.containers].flatMap(
      c => c.ports ?? [],
    ),
  }))
  return ofKind(objects, 'Cluster').length > 0 ? [...pods, POSTGRES] : pods
}

const nsLabels = (peer: Peer): Record<string, string> => ({
  'kubernetes.io/metadata.name': peer.namespace ?? '',
  ...peer.namespaceLabels,
})

function peerAllowed(from: Record<string, any>, source: Peer, policyNamespace: string): boolean {
  if (from.ipBlock !== undefined) return source.external === true
  if (source.external === true) return false
  const namespaceOk =
    from.namespaceSelector === undefined
      ? source.namespace === policyNamespace
      : matches(from.namespaceSelector.matchLabels, nsLabels(source))
  return namespaceOk && (from.podSelector === undefined || matches(from.podSelector.matchLabels, source.labels))
}

/** "source → target:port" for every path the policies let through. */
function allowedPaths(objects: K8sObject[]): string[] {
  const policies = ofKind(objects, 'NetworkPolicy')
  const all = targets(objects)
  const sources: Peer[] = [...PEERS, ...all]
  const paths = new Set<string>()
  for (const target of all) {
    const selecting = policies.filter(
      p => p.metadata.namespace === target.namespace && matches(p.spec.podSelector.matchLabels, target.labels),
    )
    for (const port of target.ports) {
      for (const source of sources) {
        // No policy selects the pod: everything gets in. (The test below requires a default deny.)
        const allowed =
          selecting.length === 0 ||
          selecting.some(policy =>
            (policy.spec.ingress ?? []).some(
              (rule: any) =>
                (rule.ports ?? [{}]).some(
                  (p: any) => p.port === undefined || p.port === port.containerPort || p.port === port.name,
                ) &&
                (rule.from ?? [{ everything: true }]).some(
                  (from: any) => from.everything === true || peerAllowed(from, source, policy.metadata.namespace!),
                ),
            ),
          )
        if (allowed) paths.add(`${source.name} → ${target.name}:${port.containerPort}`)
      }
    }
  }
  return [...paths].sort()
}

const APP = [
  'internet → proxy:8443',
  'internet → proxy:8080',
  'prometheus → proxy:9464',
  'proxy → api:3000',
  'prometheus → api:3000',
  'prometheus → logging:2020',
]
const POSTGRES_PATHS = [
  'api → postgres:5432',
  'migrate → postgres:5432',
  'postgres → postgres:5432',
  'cnpg-operator → postgres:8000',
  'prometheus → postgres:9187',
]
const REDIS_PATHS = [
  'proxy → redis-haproxy:6379',
  'redis-haproxy → redis:6379',
  'redis → redis:6379',
  'redis → redis:26379',
  'prometheus → redis:9121',
]
const EXPECTED: Record<string, string[]> = {
  dev: [...APP, ...POSTGRES_PATHS, ...REDIS_PATHS],
  production: [...APP, ...POSTGRES_PATHS, ...REDIS_PATHS],
  'production-managed': APP,
}

for (const [overlay, expected] of Object.entries(EXPECTED)) {
  t.test(`${overlay}: the NetworkPolicies allow exactly the intended paths`, async t => {
    const objects = render(overlay)
    for (const namespace of ['gatehouse', 'gatehouse-logging']) {
      t.ok(
        ofKind(objects, 'NetworkPolicy').some(
          p =>
            p.metadata.namespace === namespace &&
            Object.keys(p.spec.podSelector).length === 0 &&
            p.spec.policyTypes.includes('Ingress'),
        ),
        `${namespace}: every pod is isolated by a policy selecting all`,
      )
    }
    t.same(allowedPaths(objects), [...expected].sort())
  })
}

t.test('the evaluation sees a hole when one is made', async t => {
  const objects = structuredClone(render('production'))
  const apiPolicy = objects.find(object => object.kind === 'NetworkPolicy' && object.metadata.name === 'gatehouse-api')!
  apiPolicy.spec.ingress[0].from.push({ namespaceSelector: {} })
  const paths = allowedPaths(objects)
  t.ok(
    paths.includes('a-pod-elsewhere → api:3000') && paths.includes('redis → api:3000'),
    'any pod anywhere reaches the API',
  )
  const withoutApiPolicy = render('production').filter(object => object.metadata.name !== 'gatehouse-api')
  t.ok(
    allowedPaths(withoutApiPolicy).includes('a-pod-elsewhere → api:3000') === false,
    'the default deny still isolates the API',
  )
  t.notOk(allowedPaths(withoutApiPolicy).includes('proxy → api:3000'), '…and then the proxy cannot reach it either')
})
