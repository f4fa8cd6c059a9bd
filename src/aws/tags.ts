/** Every resource a deployment creates carries this tag (value: the deployment's name), plus a Name. */
export const DEPLOYMENT_TAG = 'gwlb:deployment'

export function tags(deployment: string, name: string): {Key: string; Value: string}[] {
  return [
    {Key: DEPLOYMENT_TAG, Value: deployment},
    {Key: 'Name', Value: name},
  ]
}

/** EC2 TagSpecifications for one resource type. */
export function tagSpecifications<T extends string>(resourceType: T, deployment: string, name: string) {
  return [{ResourceType: resourceType, Tags: tags(deployment, name)}]
}

/** EC2 describe filter: resources of this deployment. */
export function deploymentFilter(deployment: string) {
  return {Name: `tag:${DEPLOYMENT_TAG}`, Values: [deployment]}
}

export function tagValue(list: {Key?: string; Value?: string}[] | undefined, key: string): string | undefined {
  return list?.find((t) => t.Key === key)?.Value
}
