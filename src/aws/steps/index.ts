import type {Step} from '../step.js'
import {bucket} from './bucket.js'
import {endpointConnections, endpointService, endpoints} from './endpoints.js'
import {autoScalingGroup} from './fleet.js'
import {healthCheck} from './health-check.js'
import {launchTemplate} from './launch-template.js'
import {initFiles} from './init-files.js'
import {lifecycleHooks} from './lifecycle-hooks.js'
import {logGroup} from './log-group.js'
import {iamRole, instanceProfile} from './iam.js'
import {listener, loadBalancer, targetGroup} from './load-balancer.js'
import {natGateways} from './nat.js'
import {egressRoutesStep, endpointRoutesStep} from './routes.js'
import {s3Endpoint} from './s3-endpoint.js'
import {scalingPolicy} from './scaling.js'
import {securityGroup} from './security-group.js'
import {settings} from './settings.js'
import {applianceSoftware} from './software.js'
import {transitGatewayApplianceMode} from './transit-gateway.js'

/** A deployment, in dependency order: init walks it forwards, destroy backwards, status reads it. */
export const STEPS: Step[] = [
  settings,
  securityGroup,
  iamRole,
  instanceProfile,
  bucket,
  applianceSoftware,
  initFiles,
  logGroup,
  s3Endpoint,
  targetGroup,
  loadBalancer,
  listener,
  endpointService,
  endpoints,
  endpointConnections,
  natGateways,
  egressRoutesStep,
  launchTemplate,
  autoScalingGroup,
  lifecycleHooks,
  scalingPolicy,
  healthCheck,
  transitGatewayApplianceMode,
  // Last on the way up, first on the way down: traffic moves only to a fleet proven healthy, and leaves
  // it before anything of the fleet goes.
  endpointRoutesStep,
]
