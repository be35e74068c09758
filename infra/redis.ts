/**
 * Redis: the one Sidekiq shares with Rails, brought or created.
 *
 * Tasks:
 * 1. A new ElastiCache replication group (`ManagedRedis`): cluster mode disabled (Sidekiq's MULTI
 *    and Lua span several keys), in-transit and at-rest encryption, an AUTH token generated into
 *    Secrets Manager, `maxmemory-policy noeviction` (an evicted queue is lost jobs), optional
 *    Multi-AZ with automatic failover.
 * 2. An existing endpoint (`ExistingRedis`): host, port, TLS, database index, RBAC user and the
 *    AUTH secret; warnings for what the construct cannot check (no security group to admit clients
 *    to, an AUTH token sent without TLS).
 * 3. Both answer the same questions: the `REDIS_*` environment — the AUTH secret's ARN, never its
 *    value (a Lambda function's or task's configuration is readable with one API call) —, "let this
 *    client read the token", and "admit these client security groups".
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct } from 'constructs';
import { ENV } from '../lib/config.js';
import { INFRA_DEFAULTS, type ExistingRedisProps, type RedisProps } from './props.js';
import { acknowledge } from './nag.js';
import { WARNINGS } from './validate.js';

/** What the poller, the scheduler and the job functions need to reach Redis. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** REDIS_HOST, REDIS_PORT, REDIS_TLS, REDIS_DB, REDIS_USERNAME, REDIS_AUTH_SECRET_ARN — never the token. */
  readonly environment: Readonly<Record<string, string>>;
  /** The Secrets Manager secret holding the AUTH token; absent for a Redis without AUTH. */
  readonly authSecret?: secretsmanager.ISecret;
  /** Lets a Redis client read the AUTH token at start and after a rotation (GetSecretValue on the one secret). */
  grantAuthRead(client: iam.IGrantable & IConstruct): void;
  /** Admits these security groups on the Redis port. */
  allowFrom(clients: readonly ec2.ISecurityGroup[]): void;
}

interface EnvironmentParts {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly database?: number;
  readonly username?: string;
  readonly secret?: secretsmanager.ISecret;
  readonly secretField?: string;
}

function environmentOf(p: EnvironmentParts): Record<string, string> {
  return {
    [ENV.redisHost]: p.host,
    [ENV.redisPort]: String(p.port),
    [ENV.redisTls]: String(p.tls),
    ...(p.database && { [ENV.redisDb]: String(p.database) }),
    ...(p.username && { [ENV.redisUsername]: p.username }),
    // A secret known only by name is looked up by name: its ARN's random suffix is unknown here.
    ...(p.secret && { [ENV.redisAuthSecretArn]: p.secret.secretFullArn ?? p.secret.secretName }),
    ...(p.secretField && { [ENV.redisAuthSecretField]: p.secretField }),
  };
}

/**
 * GetSecretValue (and DescribeSecret) on the one secret. A secret known only by name has an ARN
 * ending in Secrets Manager's random six-character suffix, which the grant matches with `-??????`:
 * that one wildcard is acknowledged on the exact policy it lands in.
 */
function grantSecretRead(secret: secretsmanager.ISecret, client: iam.IGrantable & IConstruct): void {
  secret.grantRead(client);
  if (secret.secretFullArn) return;
  const policy = client.node.tryFindChild('DefaultPolicy');
  if (!policy) return;
  const name = Stack.of(client).resolve(secret.secretName) as unknown;
  acknowledge(policy, {
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${String(name)}-??????]`,
    reason: 'The AUTH secret was given by name: its ARN ends in a random six-character suffix that only `-??????` can match; the grant covers that one secret.',
  });
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
    acknowledge(this.authSecret, {
      id: 'AwsSolutions-SMG4',
      reason:
        'An ElastiCache AUTH token rotates through a ROTATE/SET round trip on the replication group, which a Secrets Manager rotation function does not drive; ' +
        'rotate by hand (README, "Rotating the AUTH token"): the poller, the scheduler and the functions read the secret again on WRONGPASS.',
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
      acknowledge(this.replicationGroup, {
        id: 'AwsSolutions-AEC4',
        reason: 'One node keeps a small setup cheap; redisProps.multiAz: true adds a replica in a second AZ with automatic failover.',
      });
    }
    acknowledge(this.replicationGroup, {
      id: 'AwsSolutions-AEC5',
      reason: 'Sidekiq clients and operators expect 6379; access is limited by security group, TLS and AUTH instead.',
    });
    this.host = this.replicationGroup.attrPrimaryEndPointAddress;
    this.environment = environmentOf({ host: this.host, port: this.port, tls: this.tls, secret: this.authSecret });
  }

  public grantAuthRead(client: iam.IGrantable & IConstruct): void {
    grantSecretRead(this.authSecret, client);
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
  public readonly authSecret?: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, private readonly props: ExistingRedisProps) {
    super(scope, id);
    this.host = props.host;
    this.port = props.port ?? INFRA_DEFAULTS.redis.port;
    this.tls = props.tls ?? true;
    this.authSecret = props.authSecret;
    this.environment = environmentOf({
      host: this.host,
      port: this.port,
      tls: this.tls,
      database: props.database,
      username: props.username,
      secret: props.authSecret,
      secretField: props.authSecretField,
    });
    if (!props.securityGroup) Validations.of(this).addWarning(WARNINGS.noSecurityGroup.id, WARNINGS.noSecurityGroup.message);
    if (props.authSecret && !this.tls) Validations.of(this).addWarning(WARNINGS.authWithoutTls.id, WARNINGS.authWithoutTls.message);
  }

  public grantAuthRead(client: iam.IGrantable & IConstruct): void {
    if (this.authSecret) grantSecretRead(this.authSecret, client);
  }

  public allowFrom(clients: readonly ec2.ISecurityGroup[]): void {
    const sg = this.props.securityGroup;
    if (!sg) return;
    for (const c of clients) sg.addIngressRule(c, ec2.Port.tcp(this.port), `sidekiq-lambda: Redis from ${c.node.id}`);
  }
}
