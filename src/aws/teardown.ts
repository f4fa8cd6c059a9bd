import {DescribeTagsCommand} from '../sdk/ec2.js'
import {GetParametersByPathCommand} from '../sdk/ssm.js'
import {Listr, type ListrRendererValue} from 'listr2'
import type {AwsClients} from './clients.js'
import type {Resource, Scope, Step} from './step.js'
import {STEPS} from './steps/index.js'
import {DEPLOYMENT_TAG} from './tags.js'

export interface OwnedStep {
  id: string
  title: string
  resources: Resource[]
}

/** Everything a deployment owns, found by its tag or its names alone, in the order destroy removes it. */
export async function listOwned(scope: Scope, keep: string[] = []): Promise<OwnedStep[]> {
  const steps = [...STEPS].reverse().filter((s) => !keep.includes(s.id))
  const owned = await Promise.all(steps.map((s) => s.owned(scope)))
  return steps.map((s, i) => ({id: s.id, title: s.title, resources: owned[i]!}))
}

/** Deployment names in the region: from their settings parameters and from EC2 resources carrying the tag. */
export async function findDeployments(aws: AwsClients): Promise<string[]> {
  const names = new Set<string>()
  let token: string | undefined
  do {
    const page = await aws.ssm.send(new GetParametersByPathCommand({Path: '/gwlb/', Recursive: true, NextToken: token}))
    for (const p of page.Parameters ?? []) {
      const match = /^\/gwlb\/([^/]+)\/settings$/.exec(p.Name ?? '')
      if (match) names.add(match[1]!)
    }
    token = page.NextToken
  } while (token)
  const {Tags = []} = await aws.ec2.send(new DescribeTagsCommand({Filters: [{Name: 'key', Values: [DEPLOYMENT_TAG]}]}))
  for (const t of Tags) if (t.Value) names.add(t.Value)
  return [...names].sort()
}

/** What `destroy` answers, applied or not (--dry-run): what the deployment owned, then what was removed. */
export interface DestroyResult {
  deployment: string
  region: string
  dryRun: boolean
  owned: OwnedStep[]
  removed: OwnedStep[]
  /** What it was told to leave (--keep-logs: the alerts' log group). */
  kept: string[]
}

/**
 * Removes what the deployment owns, step by step in reverse dependency order, waiting where AWS needs it
 * (instances gone before the security group, endpoints before their service, the load balancer before its
 * target group, NAT gateways before their addresses). Anything already gone is skipped, so it can re-run.
 */
export async function destroyDeployment(scope: Scope, renderer: ListrRendererValue, owned: OwnedStep[] = [], keep: string[] = []): Promise<DestroyResult> {
  const removed: OwnedStep[] = []
  const task = (step: Step) => ({
    title: `Remove ${step.title.charAt(0).toLowerCase()}${step.title.slice(1)}`,
    task: async (_: unknown, t: {title: string; output: string | undefined; skip(message: string): void}) => {
      const owned = await step.owned(scope)
      if (owned.length === 0) return t.skip(`${step.title}: nothing to remove`)
      await step.remove({...scope, progress: (m) => (t.output = m)}, owned)
      removed.push({id: step.id, title: step.title, resources: owned})
      t.title = `${step.title}: removed ${owned.map((r) => r.name ?? r.id).join(', ')}`
    },
  })
  await new Listr([...STEPS].reverse().filter((s) => !keep.includes(s.id)).map(task), {concurrent: false, exitOnError: true, renderer, registerSignalListeners: false}).run()
  return {deployment: scope.deployment, region: scope.region, dryRun: false, owned, removed, kept: keep}
}
