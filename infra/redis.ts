/**
 * Redis: the one Sidekiq shares with Rails, brought or created.
 *
 * Tasks:
 * 1. A new ElastiCache replication group (`ManagedRedis`): cluster mode disabled (Sidekiq's MULTI
 *    and Lua span several keys), in-transit and at-rest encryption, an AUTH token generated into
 *    Secrets Manager, `maxmemory-policy noeviction` (an evicted queue is lost jobs), optional
 *    Multi-AZ with automatic failover.
 * 2. An existing endpoint (`ExistingRedis`): host, port, TLS and the AUTH secret.
 * 3. Both answer the same questions: the `REDIS_*` environment, the AUTH token as an ECS secret or a
 *    deploy-time secret value, and "admit these client security groups".
 */
import { RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../lib/config.js';
import { INFRA_DEFAULTS, type ExistingRedisProps, type RedisProps } from './props.js';

/** What the poller, the scheduler and the job functions need to reach Redis. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** REDIS_HOST, REDIS_PORT, REDIS_TLS — never the token. */
  readonly environment: Readonly<Record<string, string>>;
  /** The AUTH token for an ECS task (`secrets`, resolved by ECS at task start). */
  ecsAuthToken(): ecs.Secret | undefined;
  /** The AUTH token as a deploy-time value (a CloudFormation dynamic reference, never in the template). */
  authTokenValue(): SecretValue | undefined;
  /** Admits these security groups on the Redis port. */
  allowFrom(clients: readonly ec2.ISecurityGroup[]): void;
}

function environmentOf(host: string, port: number, tls: boolean): Record<string, string> {
  return { [ENV.redisHost]: host, [ENV.redisPort]: String(port), [ENV.redisTls]: String(tls) };
}

/** The parameter group family of an engine version: redis7, redis6.x, valkey8, … */
export function parameterFamily(engine: 'redis' | 'valkey', version: string): string {
  const major = version.split('.')[0];
  return engine === 'redis' && major === '6' ? 'redis6.x' : `${engine}${major}`;
}

export interface ManagedRedisProps extends RedisProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
}

export class ManagedRedis extends Construct implements RedisEndpoint {
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  public readonly parameterGroup: elasticache.CfnParameterGroup;
  public readonly subnetGroup: elasticache.CfnSubnetGroup;
  public readonly securityGroup: ec2.SecurityGroup;
  /** The generated AUTH token. */
  public readonly authSecret: secretsmanager.Secret;
  public readonly host: string;
  public readonly port: number = INFRA_DEFAULTS.redis.port;
  public readonly tls = true;
  public readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ManagedRedisProps) {
    super(scope, id);
    const d = INFRA_DEFAULTS.redis;
    const engine = props.engine ?? d.engine;
    const version = props.engineVersion ?? INFRA_DEFAULTS.engineVersion[engine];
    const multiAz = props.multiAz ?? d.multiAz;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'sidekiq-lambda Redis: only the poller, the scheduler and needsRedis functions',
      allowAllOutbound: false,
    });
    // ElastiCache AUTH tokens: 16–128 printable characters, no @ " / — letters and digits are safe.
    this.authSecret = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'sidekiq-lambda Redis AUTH token',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.authSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotating an ElastiCache AUTH token needs a ROTATE/SET AuthTokenUpdateStrategy round trip with every client restarted; rotate by hand (docs/deploy.md).',
    });
    this.subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'sidekiq-lambda Redis',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });
    this.parameterGroup = new elasticache.CfnParameterGroup(this, 'Parameters', {
      description: 'sidekiq-lambda: Sidekiq needs noeviction (an evicted queue key is lost jobs)',
      cacheParameterGroupFamily: parameterFamily(engine, version),
      properties: { 'maxmemory-policy': 'noeviction' },
    });
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'sidekiq-lambda: Sidekiq Redis (cluster mode disabled)',
      engine,
      engineVersion: version,
      cacheNodeType: props.nodeType ?? d.nodeType,
      numCacheClusters: multiAz ? 2 : 1,
      automaticFailoverEnabled: multiAz,
      multiAzEnabled: multiAz,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: this.authSecret.secretValue.unsafeUnwrap(),
      port: this.port,
      cacheParameterGroupName: this.parameterGroup.ref,
      cacheSubnetGroupName: this.subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      snapshotRetentionLimit: props.snapshotRetentionDays ?? d.snapshotRetentionDays,
      autoMinorVersionUpgrade: true,
    });
    // This Redis holds every queued, scheduled, retrying and dead job: deleting or replacing it
    // takes a final snapshot first.
    this.replicationGroup.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    if (!multiAz) {
      Validations.of(this.replicationGroup).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason: 'One node keeps a small setup cheap; redisProps.multiAz: true adds a replica in a second AZ with automatic failover.',
      });
    }
    Validations.of(this.replicationGroup).acknowledge({
      id: 'AwsSolutions-AEC5',
      reason: 'Sidekiq clients and operators expect 6379; access is limited by security group, TLS and AUTH instead.',
    });
    this.host = this.replicationGroup.attrPrimaryEndPointAddress;
    this.environment = environmentOf(this.host, this.port, this.tls);
  }

  public ecsAuthToken(): ecs.Secret {
    return ecs.Secret.fromSecretsManager(this.authSecret);
  }

  public authTokenValue(): SecretValue {
    return this.authSecret.secretValue;
  }

  public allowFrom(clients: readonly ec2.ISecurityGroup[]): void {
    for (const c of clients) this.securityGroup.connections.allowFrom(c, ec2.Port.tcp(this.port), `Redis from ${c.node.id}`);
  }
}

export class ExistingRedis extends Construct implements RedisEndpoint {
  public readonly host: string;
  public readonly port: number;
  public readonly tls: boolean;
  public readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, private readonly props: ExistingRedisProps) {
    super(scope, id);
    this.host = props.host;
    this.port = props.port ?? INFRA_DEFAULTS.redis.port;
    this.tls = props.tls ?? true;
    this.environment = environmentOf(this.host, this.port, this.tls);
  }

  public ecsAuthToken(): ecs.Secret | undefined {
    const { authSecret, authSecretField } = this.props;
    return authSecret && ecs.Secret.fromSecretsManager(authSecret, authSecretField);
  }

  public authTokenValue(): SecretValue | undefined {
    const { authSecret, authSecretField } = this.props;
    if (!authSecret) return undefined;
    return authSecretField ? authSecret.secretValueFromJson(authSecretField) : authSecret.secretValue;
  }

  public allowFrom(clients: readonly ec2.ISecurityGroup[]): void {
    const sg = this.props.securityGroup;
    if (!sg) return;
    for (const c of clients) sg.addIngressRule(c, ec2.Port.tcp(this.port), `sidekiq-lambda: Redis from ${c.node.id}`);
  }
}
