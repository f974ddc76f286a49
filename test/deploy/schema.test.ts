// Every object of every overlay against the Kubernetes 1.36 OpenAPI schemas and the CRDs' own
// (test/deploy/schemas/), with ajv: what the API server and `kubectl apply` would refuse first, no cluster.
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import t from 'tap'
import { readText } from '../ops/ops-helpers.ts'
import { OVERLAYS, render, type K8sObject } from './deploy-helpers.ts'

const kubernetes = JSON.parse(readText('test/deploy/schemas/kubernetes.json')) as {
  kinds: Record<string, string>
  definitions: Record<string, unknown>
}
const crds = JSON.parse(readText('test/deploy/schemas/crds.json')) as { kinds: Record<string, Record<string, any>> }
// Kubernetes' patterns are Go regular expressions: `(?i)` there is JavaScript's `i` flag.
const goRegExp = Object.assign(
  (pattern: string, flags: string) =>
    pattern.includes('(?i)') ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags),
  { code: 'goRegExp' },
)
const ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: goRegExp } })
addFormats.default(ajv)
ajv.addSchema({ $id: 'k8s', definitions: kubernetes.definitions })
const OBJECT_META = 'k8s#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'

const validators = new Map<string, ValidateFunction>()
function validatorFor(object: K8sObject): ValidateFunction | undefined {
  const key = `${object.apiVersion}/${object.kind}`
  if (!validators.has(key)) {
    const definition = kubernetes.kinds[key]
    const crd = crds.kinds[key]
    // A CRD's schema says only `metadata: {type: object}`; the API server checks it as ObjectMeta.
    if (definition !== undefined) validators.set(key, ajv.compile({ $ref: `k8s#/definitions/${definition}` }))
    else if (crd !== undefined) {
      validators.set(key, ajv.compile({ ...crd, properties: { ...crd.properties, metadata: { $ref: OBJECT_META } } }))
    } else return undefined
  }
  return validators.get(key)
}

for (const overlay of OVERLAYS) {
  t.test(`overlays/${overlay}: every object is valid for its kind`, async t => {
    const objects = render(overlay)
    t.ok(objects.length > 20, `${objects.length} objects`)
    for (const object of objects) {
      const validate = validatorFor(object)
      const where = `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`
      if (validate === undefined) {
        t.fail(`${where}: no schema for ${object.apiVersion}/${object.kind} (vendor it: test/deploy/schemas/README.md)`)
        continue
      }
      t.ok(validate(object), `${where}: ${JSON.stringify(validate.errors?.slice(0, 3))}`)
    }
  })
}

t.test('the schemas refuse broken objects (the validation is not vacuous)', async t => {
  const objects = render('production')
  const deployment = structuredClone(objects.find(object => object.kind === 'Deployment')!)
  deployment.spec.template.spec.containers[0].readinessProbes =
    deployment.spec.template.spec.containers[0].readinessProbe
  deployment.spec.replicas = 'two'
  const validate = validatorFor(deployment)!
  t.notOk(validate(deployment))
  const errors = validate.errors ?? []
  t.ok(
    errors.some(
      error => error.keyword === 'additionalProperties' && error.params.additionalProperty === 'readinessProbes',
    ),
    'a misspelt field is named',
  )
  t.ok(
    errors.some(error => error.instancePath === '/spec/replicas'),
    'a wrong type is named',
  )

  const cluster = structuredClone(objects.find(object => object.kind === 'Cluster')!)
  cluster.spec.backup = { barmanObjectStore: { destinationPath: 3 } }
  cluster.spec.instancez = 3
  t.notOk(validatorFor(cluster)!(cluster), 'a CRD object with an unknown field and a bad type is refused')
  const rule = structuredClone(objects.find(object => object.kind === 'PrometheusRule')!)
  rule.spec.groups[0].rules[0].expr = { not: 'a string' }
  rule.metadata.labels = { bad: 3 } as unknown as Record<string, string>
  t.notOk(
    validatorFor(rule)!(rule),
    'PrometheusRule: an expression that is not a string, and labels that are not strings',
  )
})
