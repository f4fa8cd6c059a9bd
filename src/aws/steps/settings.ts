import {DeleteParameterCommand, GetParameterCommand, PutParameterCommand} from '../../sdk/ssm.js'
import {refuseFixed, settingChanges} from '../changes.js'
import type {AwsClients} from '../clients.js'
import type {DeploymentSpec} from '../spec.js'
import {done, remember, unlessNotFound, type Scope, type Step} from '../step.js'
import {tags} from '../tags.js'
import {errorCode} from '../wait.js'

/**
 * The deployment's settings, kept in AWS (an SSM parameter) rather than in a local file, so that status and
 * destroy on any machine know what init was asked for.
 */
export const settingsParameter = (deployment: string) => `/gwlb/${deployment}/settings`

export async function readSettings(aws: AwsClients, deployment: string): Promise<DeploymentSpec | undefined> {
  try {
    const {Parameter} = await aws.ssm.send(new GetParameterCommand({Name: settingsParameter(deployment)}))
    return JSON.parse(Parameter!.Value!) as DeploymentSpec
  } catch (error) {
    if (errorCode(error) === 'ParameterNotFound') return undefined
    throw error
  }
}

/** The settings, read once per status run (the step and the verdict both want them). */
export const settingsOf = (scope: Scope) => remember(scope, 'settings', () => readSettings(scope.aws, scope.deployment))

export const settings: Step = {
  id: 'settings',
  title: 'Deployment settings (SSM parameter)',
  needs: [],
  enabled: () => true,

  async find(ctx) {
    const name = settingsParameter(ctx.spec.name)
    const stored = await readSettings(ctx.aws, ctx.spec.name)
    if (!stored) return {resources: [], missing: [`parameter ${name}`]}
    const resources = [{type: 'ssm-parameter', id: name}]
    // The plan's first lines: each setting that changes. What cannot change in place stops init here.
    const changes = settingChanges(stored, ctx.spec)
    refuseFixed(changes, stored)
    const recorded = JSON.stringify(stored) === JSON.stringify(ctx.spec)
    return {resources, missing: changes.length ? changes.map((c) => c.words) : recorded ? [] : ['record the settings anew']}
  },

  async create(ctx, found) {
    const name = settingsParameter(ctx.spec.name)
    const value = JSON.stringify(ctx.spec)
    // Tags can only go with a new parameter; an update overwrites the value alone.
    await ctx.aws.ssm.send(new PutParameterCommand(found.resources.length
      ? {Name: name, Type: 'String', Value: value, Overwrite: true}
      : {Name: name, Type: 'String', Value: value, Description: `gwlb deployment ${ctx.spec.name}`, Tags: tags(ctx.spec.name, name)}))
    return done([{type: 'ssm-parameter', id: name}])
  },

  async owned(scope) {
    return (await settingsOf(scope)) ? [{type: 'ssm-parameter', id: settingsParameter(scope.deployment)}] : []
  },

  async remove(scope, owned) {
    for (const r of owned) await scope.aws.ssm.send(new DeleteParameterCommand({Name: r.id})).catch(unlessNotFound('ParameterNotFound'))
  },
}
