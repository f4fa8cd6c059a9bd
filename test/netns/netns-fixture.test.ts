import {afterAll, expect, it} from 'vitest'
import {Lab, namespacesOfThisRun} from '../helpers/netns.js'
import {describeAsRoot} from '../helpers/root.js'

describeAsRoot('the network-namespace fixture', () => {
  const lab = new Lab()
  afterAll(() => lab.cleanup())

  it('pings across a veth pair between two namespaces, and routes through a third', () => {
    const left = lab.host('left')
    const router = lab.host('router')
    const right = lab.host('right')
    lab.link(left, 'eth0', '192.0.2.1/30', router, 'l0', '192.0.2.2/30')
    lab.link(router, 'r0', '198.51.100.1/30', right, 'eth0', '198.51.100.2/30')
    router.sysctl('net.ipv4.ip_forward', 1)
    left.run('ip', 'route', 'add', 'default', 'via', '192.0.2.2')
    right.run('ip', 'route', 'add', 'default', 'via', '198.51.100.1')

    expect(left.run('ping', '-c', '1', '-W', '2', '192.0.2.2')).toMatch(/1 received/)
    expect(left.run('ping', '-c', '2', '-i', '0.2', '-W', '2', '198.51.100.2')).toMatch(/2 received/)
    expect(right.run('ip', '-br', 'link', 'show', 'eth0')).toMatch(/UP/)
  })

  it('leaves no namespace behind after cleanup', () => {
    const extra = new Lab()
    extra.host('tmp')
    expect(namespacesOfThisRun()).toHaveLength(4)
    extra.cleanup()
    expect(namespacesOfThisRun()).toHaveLength(3)
  })
})
