// Init container of the API pods: waits until the migration Job of this release (MIGRATION_JOB) has
// succeeded, so no API pod of a new version serves before its schema exists. Exits 1 if the Job failed.
// Runs on the app image's node with its projected service-account token; no other client is needed.
import { readFileSync } from 'node:fs'
import { request } from 'node:https'

const dir = process.env.TOKEN_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount'
const api =
  process.env.KUBERNETES_API_URL ??
  `https://${process.env.KUBERNETES_SERVICE_HOST}:${process.env.KUBERNETES_SERVICE_PORT}`
const namespace = readFileSync(`${dir}/namespace`, 'utf8').trim()
const job = process.env.MIGRATION_JOB
const pollMs = Number(process.env.POLL_MS ?? 2000)

function getJob() {
  return new Promise((resolve, reject) => {
    const url = new URL(`/apis/batch/v1/namespaces/${namespace}/jobs/${job}`, api)
    const options = {
      ca: readFileSync(`${dir}/ca.crt`),
      headers: { authorization: `Bearer ${readFileSync(`${dir}/token`, 'utf8').trim()}` },
      timeout: 5000,
    }
    const req = request(url, options, response => {
      let body = ''
      response.on('data', chunk => {
        body += chunk
      })
      response.on('end', () =>
        resolve({ status: response.statusCode, job: response.statusCode === 200 ? JSON.parse(body) : undefined }),
      )
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end()
  })
}

for (;;) {
  const answer = await getJob().catch(error => ({ status: `unreachable (${error.message})` }))
  const conditions = answer.job?.status?.conditions ?? []
  if (conditions.some(c => c.type === 'Complete' && c.status === 'True')) {
    process.stdout.write(`migration job ${job} succeeded\n`)
    process.exit(0)
  }
  if (conditions.some(c => c.type === 'Failed' && c.status === 'True')) {
    process.stderr.write(`migration job ${job} failed: see kubectl logs job/${job}\n`)
    process.exit(1)
  }
  process.stdout.write(`waiting for migration job ${job} (${answer.status})\n`)
  await new Promise(resolve => setTimeout(resolve, pollMs))
}
