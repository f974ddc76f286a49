// deploy/kubernetes as a cluster would receive it: each overlay rendered by the machine's `kubectl kustomize`
// (offline), the Secrets create-secrets.sh makes, and every container's environment resolved from both.
import { spawnSync } from 'node:child_process'
import { parseAllDocuments } from 'yaml'
import { repoPath } from '../ops/ops-helpers.ts'

export const OVERLAYS = ['dev', 'production', 'production-managed'] as const
export type Overlay = (typeof OVERLAYS)[number]
export const KUSTOMIZE_ROOT = 'deploy/kubernetes'

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  [key: string]: any
}
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: any
}
export interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  ports?: Array<{ name?: string; containerPort: number }>
  [key: string]: any
}
export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  [key: string]: any
}

function kubectl(args: string[], input?: string): string {
  const result = spawnSync('kubectl', args, { encoding: 'utf8', input, timeout: 60_000 })
  if (result.error !== undefined) throw new Error(`kubectl could not run (${result.error.message}): CI must install it`)
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout
}

export const parseObjects = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map(document => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null)

const rendered = new Map<string, K8sObject[]>()
/** `kubectl kustomize` of an overlay (or any folder under deploy/kubernetes), once per test process. */
export function render(overlay: string): K8sObject[] {
  if (!rendered.has(overlay)) {
    rendered.set(overlay, parseObjects(kubectl(['kustomize', repoPath(KUSTOMIZE_ROOT, 'overlays', overlay)])))
  }
  return rendered.get(overlay)!
}

/** The Secrets create-secrets.sh would create, decoded: name → key → value. */
export function generatedSecrets(env: Record<string, string> = {}): Map<string, Record<string, string>> {
  const result = spawnSync('bash', [repoPath(KUSTOMIZE_ROOT, 'create-secrets.sh'), '--print', '--self-signed'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  if (result.status !== 0) throw new Error(`create-secrets.sh failed: ${result.stderr}`)
  const secrets = new Map<string, Record<string, string>>()
  for (const secret of parseObjects(result.stdout)) {
    const data = Object.fromEntries(
      Object.entries(secret.data as Record<string, string>).map(([key, value]) => [
        key,
        Buffer.from(value, 'base64').toString('utf8'),
      ]),
    )
    secrets.set(`${secret.metadata.namespace}/${secret.metadata.name}`, data)
  }
  return secrets
}

export const named = (objects: K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objects.find(object => object.kind === kind && object.metadata.name === name)
export const ofKind = (objects: K8sObject[], ...kinds: string[]): K8sObject[] =>
  objects.filter(object => kinds.includes(object.kind))

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job). */
export const podTemplate = (object: K8sObject): { metadata: { labels: Record<string, string> }; spec: PodSpec } =>
  object.spec.template
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job']
export const workloads = (objects: K8sObject[]): K8sObject[] => ofKind(objects, ...WORKLOAD_KINDS)
export const allContainers = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers]

export const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value)

/** A container's environment as the kubelet would set it, from the rendered ConfigMaps and the given Secrets. */
export function resolveEnv(
  objects: K8sObject[],
  namespace: string,
  container: Container,
  secrets: Map<string, Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, name: string) => env[name] ?? '')
    }
    const configMapRef = variable.valueFrom?.configMapKeyRef
    if (configMapRef !== undefined) {
      const value = named(objects, 'ConfigMap', configMapRef.name)?.data?.[configMapRef.key]
      if (value === undefined && configMapRef.optional !== true) {
        throw new Error(`${container.name}: ConfigMap ${configMapRef.name} has no ${configMapRef.key}`)
      }
      if (value !== undefined) env[variable.name] = value
    }
    const secretRef = variable.valueFrom?.secretKeyRef
    if (secretRef !== undefined) {
      const value = secrets.get(`${namespace}/${secretRef.name}`)?.[secretRef.key]
      if (value === undefined) {
        throw new Error(`${container.name}: Secret ${namespace}/${secretRef.name} has no ${secretRef.key}`)
      }
      env[variable.name] = value
    }
  }
  return env
}
