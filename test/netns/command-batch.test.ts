import {afterAll, expect, it} from 'vitest'
import {CommandBatch} from '../../src/appliance/host/command-batch.js'
import {Lab} from '../helpers/netns.js'
import {describeAsRoot} from '../helpers/root.js'

describeAsRoot('CommandBatch: ip commands of many callers through one batch process at a time', () => {
  const lab = new Lab()
  const host = lab.host('batch')
  // `ip -n NAME` runs in the test's namespace, as the appliance's batches run in their own.
  const ip = new CommandBatch('ip', ['-n', host.ns])
  afterAll(() => lab.cleanup())

  const rules = () => host.run('ip', 'rule', 'show').split('\n').filter((l) => /lookup 3\d\d\b/.test(l))

  it('runs lines given at once, in order, each caller told of its own', async () => {
    await Promise.all(Array.from({length: 200}, (_, i) => ip.run(`rule add pref ${1000 + i} lookup ${300 + (i % 50)}`)))
    expect(rules()).toHaveLength(200)
    // Order within a batch holds: a route added, then replaced, ends as the replacement.
    await Promise.all([ip.run('route add unreachable 10.9.0.0/16 table 300'), ip.run('route replace prohibit 10.9.0.0/16 table 300')])
    expect(host.run('ip', 'route', 'show', 'table', '300')).toMatch(/^prohibit 10\.9\.0\.0\/16/)
  })

  it('rejects only the lines that failed, with what ip said of each; the others take effect', async () => {
    const outcomes = await Promise.allSettled([
      ip.run('rule del pref 1000'),
      ip.run('rule del pref 999'),
      ip.run('rule del pref 1001'),
      ip.run('route add 10.8.0.0/16 dev nosuch table 301'),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected'])
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(new RegExp(`ip -n ${host.ns} rule del pref 999: .*No such file or directory`))
    expect(String((outcomes[3] as PromiseRejectedResult).reason)).toMatch(/route add 10\.8\.0\.0\/16 dev nosuch table 301: Cannot find device "nosuch"/)
    expect(rules()).toHaveLength(198)
  })

  it('rejects every line with the tool\'s words when it stops before running any (and its closed input is no crash)', async () => {
    const nowhere = new CommandBatch('ip', ['-n', 'gwlbt-no-such-namespace'])
    const outcomes = await Promise.allSettled(Array.from({length: 3}, () => nowhere.run(`rule add pref 1 lookup 300 ${'x'.repeat(70_000)}`)))
    for (const o of outcomes) expect(String((o as PromiseRejectedResult).reason)).toMatch(/Cannot open network namespace "gwlbt-no-such-namespace"/)
  })

  it('takes lines given while a batch runs into the next one, and starts again once idle', async () => {
    const first = ip.run('rule del pref 1002')
    await Promise.resolve()
    const second = ip.run('rule del pref 1003')
    await Promise.all([first, second])
    await ip.run('rule del pref 1004')
    expect(rules()).toHaveLength(195)
  })
})
