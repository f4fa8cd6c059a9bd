import type {Step} from '../step.js'
import {bucket} from './bucket.js'
import {endpointConnections, endpointService, endpoints} from './endpoints.js'
import {autoScalingGroup, launchTemplate} from './fleet.js'
import {iamRole, instanceProfile} from './iam.js'
import {listener, loadBalancer, targetGroup} from './load-balancer.js'
import {natGateways} from './nat.js'
import {egressRoutesStep, endpointRoutesStep} from './routes.js'
import {s3Endpoint} from './s3-endpoint.js'
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
  s3Endpoint,
  targetGroup,
  loadBalancer,
  listener,
  endpointService,
  endpoints,
  endpointConnections,
  endpointRoutesStep,
  natGateways,
  egressRoutesStep,
  launchTemplate,
  autoScalingGroup,
  transitGatewayApplianceMode,
]
