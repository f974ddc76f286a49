// Writes the JSON Schemas the deploy tests validate against, from upstream sources checked out locally:
//   node test/deploy/schemas/vendor-schemas.ts <swagger.json> <crd.yaml>…
// Only the kinds the manifests use (and what they reference) are kept, descriptions dropped. Objects
// refuse unknown fields, as `kubectl apply` (strict field validation) and the API server's pruning would.
import { readFileSync, writeFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'

type Schema = Record<string, any>
export const KINDS = [
  'v1/Namespace',
  'v1/ServiceAccount',
  'v1/ConfigMap',
  'v1/Service',
  'apps/v1/Deployment',
  'apps/v1/StatefulSet',
  'apps/v1/DaemonSet',
  'batch/v1/Job',
  'autoscaling/v2/HorizontalPodAutoscaler',
  'policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy',
  'rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
]

/** OpenAPI v2/v3 (Kubernetes flavour) to JSON Schema draft-07 for ajv. */
export function toJsonSchema(node: unknown, refPrefix: string): unknown {
  if (Array.isArray(node)) return node.map(item => toJsonSchema(item, refPrefix))
  if (node === null || typeof node !== 'object') return node
  const source = node as Schema
  if (source.format === 'int-or-string' || source['x-kubernetes-int-or-string'] === true) {
    return { anyOf: [{ type: 'integer' }, { type: 'string' }] }
  }
  const out: Schema = {}
  for (const [key, value] of Object.entries(source)) {
    if (key === 'description' || key.startsWith('x-kubernetes-') || key === 'default' || key === 'example') continue
    if (key === '$ref') out.$ref = String(value).replace('#/definitions/', refPrefix)
    else if (key === 'properties' || key === 'definitions') {
      out[key] = Object.fromEntries(
        Object.entries(value as Schema).map(([name, child]) => [name, toJsonSchema(child, refPrefix)]),
      )
    } else out[key] = toJsonSchema(value, refPrefix)
  }
  const open = source['x-kubernetes-preserve-unknown-fields'] === true
  if (out.properties !== undefined && out.additionalProperties === undefined && !open) out.additionalProperties = false
  if (source.nullable === true) delete out.nullable
  return out
}

function kubernetes(swaggerPath: string): Schema {
  const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8')) as { definitions: Record<string, Schema> }
  const byKind: Record<string, string> = {}
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    for (const gvk of definition['x-kubernetes-group-version-kind'] ?? []) {
      const key = `${gvk.group === '' ? '' : `${gvk.group}/`}${gvk.version}/${gvk.kind}`
      if (KINDS.includes(key)) byKind[key] = name
    }
  }
  const wanted = new Set<string>(['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'])
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit)
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref') {
          const name = String(value).replace('#/definitions/', '')
          if (!wanted.has(name)) {
            wanted.add(name)
            visit(swagger.definitions[name])
          }
        } else visit(value)
      }
    }
  }
  for (const name of Object.values(byKind)) {
    wanted.add(name)
    visit(swagger.definitions[name])
  }
  visit(swagger.definitions['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'])
  const definitions = Object.fromEntries(
    [...wanted].sort().map(name => [name, toJsonSchema(swagger.definitions[name], '#/definitions/')]),
  )
  return { kinds: byKind, definitions }
}

function crds(paths: string[]): Schema {
  const kinds: Record<string, unknown> = {}
  for (const path of paths) {
    for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
      const crd = document.toJS() as Schema | null
      if (crd?.kind !== 'CustomResourceDefinition') continue
      for (const version of crd.spec.versions) {
        if (version.served !== true) continue
        const schema = toJsonSchema(version.schema.openAPIV3Schema, '#/') as Schema
        delete schema.properties?.status
        kinds[`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`] = schema
      }
    }
  }
  return { kinds }
}

if (process.argv[1]?.endsWith('vendor-schemas.ts')) {
  const [swagger, ...crdPaths] = process.argv.slice(2)
  const dir = new URL('.', import.meta.url)
  writeFileSync(new URL('kubernetes.json', dir), JSON.stringify(kubernetes(swagger!)) + '\n')
  writeFileSync(new URL('crds.json', dir), JSON.stringify(crds(crdPaths)) + '\n')
}
