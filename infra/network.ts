/**
 * The network: the VPC and the security groups of everything that talks to Redis.
 *
 * Tasks:
 * 1. Adopt an existing VPC or create one (two AZs, one NAT gateway: the poller calls the Lambda API).
 * 2. Give each Redis client its own security group — the poller, the scheduler, and the job
 *    functions that enqueue back — so Redis admits exactly these and nothing else.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { acknowledge } from './nag.js';

export interface NetworkProps {
  /** @default - a new VPC */
  readonly existingVpc?: ec2.IVpc;
  /** @default - two AZs, public and private subnets, one NAT gateway */
  readonly vpcProps?: ec2.VpcProps;
  /** @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
}

export class Network extends Construct {
  public readonly vpc: ec2.IVpc;
  public readonly subnets: ec2.SubnetSelection;
  /** The poller's tasks. */
  public readonly pollerSecurityGroup: ec2.SecurityGroup;
  /** The scheduler function. */
  public readonly schedulerSecurityGroup: ec2.SecurityGroup;
  /** Job functions declared with `needsRedis: true`. */
  public readonly jobsSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = props.existingVpc ?? this.newVpc(props.vpcProps);
    this.subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const sg = (name: string, description: string) =>
      new ec2.SecurityGroup(this, name, { vpc: this.vpc, description, allowAllOutbound: true });
    this.pollerSecurityGroup = sg('PollerSecurityGroup', 'sidekiq-lambda poller: Redis client, calls the Lambda API');
    this.schedulerSecurityGroup = sg('SchedulerSecurityGroup', 'sidekiq-lambda scheduler: Redis client');
    this.jobsSecurityGroup = sg('JobsSecurityGroup', 'sidekiq-lambda job functions that enqueue back: Redis clients');
  }

  /** The client security groups Redis admits. */
  public get redisClients(): ec2.SecurityGroup[] {
    return [this.pollerSecurityGroup, this.schedulerSecurityGroup, this.jobsSecurityGroup];
  }

  private newVpc(props: ec2.VpcProps = {}): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      ],
      ...props,
    });
    if (!props.flowLogs) {
      acknowledge(vpc, {
        id: 'AwsSolutions-VPC7',
        reason: 'Flow logs cost per GB and are off for a small setup; pass vpcProps.flowLogs (or your own VPC) to turn them on.',
      });
    }
    return vpc;
  }
}
