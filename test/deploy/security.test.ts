// Every pod of every overlay: resources set, non-root (Fluent Bit excepted, as documented), no privilege,
// read-only root filesystem, no capability, RuntimeDefault seccomp, no service-account token it does not use.
import t from 'tap'
import { allContainers, named, ofKind, OVERLAYS, podTemplate, render, workloads } from './deploy-helpers.ts'

for (const overlay of OVERLAYS) {
  const objects = render(overlay)

  t.test(`${overlay}: resources everywhere; no privileged or root pod but Fluent Bit's; no needless token`, async t => {
    for (const workload of workloads(objects)) {
      const spec = podTemplate(workload).spec
      const where = workload.metadata.name
      const logCollector = workload.kind === 'DaemonSet' && workload.metadata.namespace === 'gatehouse-logging'
      t.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', `${where}: seccomp RuntimeDefault`)
      if (logCollector) {
        t.equal(
          spec.securityContext.runAsUser,
          0,
          `${where}: root, to read the nodes' root-owned log files (documented)`,
        )
      } else {
        t.ok(spec.securityContext.runAsNonRoot === true && spec.securityContext.runAsUser > 0, `${where}: non-root`)
      }
      t.equal(spec.hostNetwork ?? false, false)
      const volumes = spec.volumes ?? []
      if (!logCollector) {
        t.notOk(
          volumes.some((v: { hostPath?: unknown }) => v.hostPath !== undefined),
          `${where}: no hostPath`,
        )
      }
      const tokenNeeded =
        logCollector ||
        volumes.some((v: { projected?: { sources: Array<{ serviceAccountToken?: unknown }> } }) =>
          v.projected?.sources.some(s => s.serviceAccountToken !== undefined),
        )
      const account = named(objects, 'ServiceAccount', spec.serviceAccountName ?? 'default')
      const automount = spec.automountServiceAccountToken ?? account?.automountServiceAccountToken ?? true
      t.equal(
        automount,
        logCollector,
        `${where}: ${logCollector ? 'its token (the kubernetes filter)' : 'no automounted token'}`,
      )
      if (tokenNeeded && !logCollector) {
        for (const c of allContainers(spec)) {
          const hasToken = (c.volumeMounts ?? []).some(
            (m: { name: string }) =>
              volumes.find((v: { name: string; projected?: unknown }) => v.name === m.name)?.projected !== undefined,
          )
          t.equal(hasToken, c.name === 'wait-for-migration', `${where}/${c.name}: the token only where it is used`)
        }
      }
      for (const c of allContainers(spec)) {
        const security = c.securityContext ?? {}
        t.equal(security.privileged ?? false, false, `${where}/${c.name}: not privileged`)
        t.equal(security.allowPrivilegeEscalation, false, `${where}/${c.name}: no privilege escalation`)
        t.equal(security.readOnlyRootFilesystem, true, `${where}/${c.name}: read-only root filesystem`)
        t.same(security.capabilities?.drop, ['ALL'], `${where}/${c.name}: every capability dropped`)
        t.equal(security.capabilities?.add, undefined)
        if (security.runAsUser !== undefined && !logCollector) t.ok(security.runAsUser > 0)
        for (const kind of ['requests', 'limits']) {
          t.ok(
            c.resources?.[kind]?.cpu !== undefined || (kind === 'limits' && c.resources?.limits?.memory !== undefined),
            `${where}/${c.name}: cpu ${kind}`,
          )
          t.ok(c.resources?.[kind]?.memory !== undefined, `${where}/${c.name}: memory ${kind}`)
        }
        t.match(c.image, /^[\w./-]+:v?\d+(\.\d+)+(-[\w.]+)?$/, `${where}/${c.name}: ${c.image} pinned`)
      }
    }
    for (const cluster of ofKind(objects, 'Cluster')) {
      t.ok(cluster.spec.resources.requests.memory && cluster.spec.resources.limits.memory, 'Postgres resources')
    }
    t.notOk(
      objects.some(object => object.kind === 'Secret'),
      'no Secret in the manifests: referenced, never inlined',
    )
  })
}
