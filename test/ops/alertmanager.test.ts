// Alertmanager: the real amtool accepts the config, severities route to the intended receivers, the
// inhibition rules name alerts that exist, and no secret is written in the file.
import t from 'tap'
import { readText, readYaml, ruleGroups, runTool } from './ops-helpers.ts'

const CONFIG = 'ops/alertmanager/alertmanager.yml'
const alertNames = new Set(ruleGroups('alerts.yml').flatMap(group => group.rules.map(rule => rule.alert!)))

t.test('amtool check-config', async t => {
  const result = runTool(t, 'amtool', ['check-config', CONFIG])
  t.equal(result.status, 0, result.output)
  t.match(result.output, /SUCCESS/)
})

t.test('critical alerts page, warnings open tickets, anything else still reaches a receiver', async t => {
  const cases: Array<[string[], string]> = [
    [['severity=critical', 'alertname=ServiceDown', 'job=api'], 'page'],
    [['severity=warning', 'alertname=HighP99Latency', 'job=api'], 'ticket'],
    [['alertname=Unlabelled'], 'ticket'],
  ]
  for (const [labels, receiver] of cases) {
    const result = runTool(t, 'amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...labels])
    t.equal(result.status, 0, result.output)
    t.equal(result.stdout.trim(), receiver, `${labels.join(' ')} → ${receiver}`)
  }
  // Every severity the alert rules use has its own route.
  const severities = new Set(ruleGroups('alerts.yml').flatMap(group => group.rules.map(rule => rule.labels!.severity)))
  t.same([...severities].sort(), ['critical', 'warning'])
})

interface Matchers {
  source_matchers: string[]
  target_matchers: string[]
}

t.test('inhibition rules name alerts that exist', async t => {
  const config = readYaml<{ inhibit_rules: Matchers[] }>(CONFIG)
  t.ok(config.inhibit_rules.length > 0)
  for (const rule of config.inhibit_rules) {
    for (const matcher of [...rule.source_matchers, ...rule.target_matchers]) {
      const named = /^alertname=~?"([^"]+)"$/.exec(matcher)
      if (named === null) continue
      for (const name of named[1]!.split('|')) {
        t.ok(alertNames.has(name), `${matcher}: ${name} is an alert in alerts.yml`)
      }
    }
  }
})

t.test('no secrets in the file: webhook credentials are read from a mounted file', async t => {
  const text = readText(CONFIG)
  t.notMatch(text, /password|api_key:|\bcredentials:|token:/i)
  const config = readYaml<{
    receivers: Array<{
      name: string
      webhook_configs: Array<{ url: string; http_config?: { authorization?: { credentials_file?: string } } }>
    }>
  }>(CONFIG)
  for (const receiver of config.receivers) {
    for (const hook of receiver.webhook_configs) {
      t.match(hook.url, /^https:\/\/[^/]*example\.com\//, `${receiver.name}: placeholder endpoint`)
      t.equal(hook.http_config?.authorization?.credentials_file, '/etc/alertmanager/secrets/webhook-token')
    }
  }
  const compose = readYaml('compose.yaml')
  t.ok(
    compose.services.alertmanager.volumes.some((volume: string) =>
      volume.endsWith(':/etc/alertmanager/secrets/webhook-token:ro'),
    ),
    'compose mounts the token file where the config reads it',
  )
})
