/**
 * The appliances' own scaling metric (`init --scale-on packets:PPS`): each appliance publishes the GENEVE packets
 * per second it received since its last report, under its group's name; the group's target tracking averages
 * them, so the target is per appliance. EC2 has no packets-per-second metric finer than 5 minutes of
 * basic monitoring, and the GWLB's are per load balancer, not per target.
 */
export const SCALING_METRIC = {Namespace: 'gwlb', MetricName: 'PacketsPerSecond', Unit: 'Count/Second'} as const
export const scalingDimensions = (group: string) => [{Name: 'AutoScalingGroupName', Value: group}]
