/**
 * The one place that reads the environment, with loud failures: the poller's (what ECS sets), the
 * scheduler's, a job function's, and the producer's.
 *
 * Tasks:
 * 1. Name every environment variable this project reads (`ENV`), so the CDK construct writes
 *    exactly these names.
 * 2. Parse them into typed configurations (`pollerConfigFromEnv`, `schedulerConfigFromEnv`,
 *    `clientConfigFromEnv`, `logLevelFromEnv`), with defaults in one table (`POLLER_DEFAULTS`).
 *
 * Pure: no connection is opened here; `infra/` imports the names.
 */
import { decodeRoutes, JOBS_ENV, type Route } from './jobs.js';
import { CRON_ENV, decodeCron, type CronEntry } from './periodic.js';
import type { CronLayout } from './protocol/keys.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import type { SidekiqVersion } from './protocol/time.js';

export const ENV = {
  redisUrl: 'REDIS_URL',
  /** Alternative to REDIS_URL for deployments whose AUTH token is injected separately (ECS secret). */
  redisHost: 'REDIS_HOST',
  redisPort: 'REDIS_PORT',
  redisTls: 'REDIS_TLS',
  redisAuthToken: 'REDIS_AUTH_TOKEN',
  /** The Secrets Manager secret holding the AUTH token (CDK): read at start, again when Redis refuses it. */
  redisAuthSecretArn: 'REDIS_AUTH_SECRET_ARN',
  /** The JSON key of the token when the secret is a JSON object. */
  redisAuthSecretField: 'REDIS_AUTH_SECRET_FIELD',
  /** The database index with REDIS_HOST (default 0). */
  redisDb: 'REDIS_DB',
  /** An ACL / ElastiCache RBAC user name with REDIS_HOST (default: the default user). */
  redisUsername: 'REDIS_USERNAME',
  jobs: JOBS_ENV,
  queues: 'SIDEKIQ_LAMBDA_QUEUES',
  maxInFlight: 'SIDEKIQ_LAMBDA_MAX_IN_FLIGHT',
  /** Jobs fetched ahead, waiting for a slot of their class (default: twice the in-flight cap). */
  maxWaiting: 'SIDEKIQ_LAMBDA_MAX_WAITING',
  shutdownTimeout: 'SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT',
  healthPort: 'SIDEKIQ_LAMBDA_HEALTH_PORT',
  lambdaEndpoint: 'SIDEKIQ_LAMBDA_ENDPOINT',
  namespace: 'SIDEKIQ_NAMESPACE',
  sidekiqVersion: 'SIDEKIQ_VERSION',
  tag: 'SIDEKIQ_LAMBDA_TAG',
  debugArgs: 'SIDEKIQ_LAMBDA_LOG_ARGS',
  metrics: 'SIDEKIQ_LAMBDA_METRICS',
  /** Seconds the process entry outlives its last heartbeat (Sidekiq: 60). Lower only in tests. */
  processTtl: 'SIDEKIQ_LAMBDA_PROCESS_TTL',
  /** `direct` (default: a lean signed request) or `sdk` (the SDK's InvokeCommand). */
  invoker: 'SIDEKIQ_LAMBDA_INVOKER',
  /** The poller's, dev's and the scheduler's log level. */
  logLevel: 'SIDEKIQ_LAMBDA_LOG_LEVEL',
  /** A job function's log level (`job.logger`), as Lambda functions conventionally read it. */
  handlerLogLevel: 'LOG_LEVEL',
  /** How often the scheduler promotes due jobs, in ms. */
  schedulerInterval: 'SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS',
  /** Print stack traces of command errors. */
  debug: 'SIDEKIQ_LAMBDA_DEBUG',
  /** The declared periodic jobs (JSON, lib/periodic.ts); the CDK construct writes it on the scheduler. */
  cron: CRON_ENV,
  /** sidekiq-cron's major version beside us, `1` or `2` (or `1.8.0`): its key layout. Unset: detected. */
  cronVersion: 'SIDEKIQ_CRON_VERSION',
  /** sidekiq-cron 2.x namespaces fired besides the declared entries' (comma-separated; default `default`). */
  cronNamespaces: 'SIDEKIQ_CRON_NAMESPACES',
  /** Seconds a missed fire time stays worth enqueueing (sidekiq-cron's 60, 2.x's `reschedule_grace_period`). */
  cronGrace: 'SIDEKIQ_CRON_GRACE_SECONDS',
  region: 'AWS_REGION',
  defaultRegion: 'AWS_DEFAULT_REGION',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  /** The value of the `Deployment` dimension on every metric (the CDK construct sets one per deployment). */
  deployment: 'SIDEKIQ_LAMBDA_DEPLOYMENT',
  /** Minutes a poller may hold ECS scale-in protection at a stretch while jobs run (0: never). */
  protectionMaxMinutes: 'SIDEKIQ_LAMBDA_PROTECTION_MAX_MINUTES',
  /** Set by ECS in every container: the agent's endpoint (task scale-in protection). */
  ecsAgentUri: 'ECS_AGENT_URI',
} as const;

/**
 * The queue the poller drains for a class whose queue Ruby shares (`shared: true`): the share of
 * its jobs routed to Lambda waits there, `lambda.<Class>` (a name the Web UI shows as a queue).
 */
export const LAMBDA_QUEUE_PREFIX = 'lambda.';

/** The queue the poller drains for a declared class: its own queue, or `lambda.<Class>` when Ruby shares it. */
export function lambdaQueueOf(route: Pick<Route, 'class' | 'queue' | 'shared'>): string {
  return route.shared ? `${LAMBDA_QUEUE_PREFIX}${route.class}` : route.queue;
}

/**
 * How long every reader (the poller, the producer, the Ruby middleware) caches the routing table:
 * a change takes effect everywhere within this time. Ruby's side reads the same figure from
 * `SidekiqLambda::Routing::CACHE_SECONDS`.
 */
export const ROUTE_CACHE_MS = 2000;

/** Where Redis is when nothing says otherwise. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A queue and its weight, as Sidekiq's `-q name,weight`. */
export interface QueueWeight {
  readonly name: string;
  readonly weight: number;
}

export const POLLER_DEFAULTS = {
  /** Jobs running at once across all classes (the poller's concurrency). */
  maxInFlight: 100,
  /** Seconds to wait for in-flight jobs on SIGTERM (inside ECS's default 30 s stop timeout). */
  shutdownTimeoutSeconds: 25,
  healthPort: 8080,
  processTtlSeconds: 60,
} as const;

/** Parses `default,2 low,1` or `default low` (comma or space separated pairs). */
export function parseQueues(text: string): QueueWeight[] {
  const out: QueueWeight[] = [];
  for (const part of text.split(/[\s;]+/).filter(Boolean)) {
    const [name, w] = part.split(',');
    if (!name) throw new ConfigError(`${ENV.queues}: empty queue name in "${text}"`);
    const weight = w === undefined ? 0 : Number(w);
    if (!Number.isInteger(weight) || weight < 0) throw new ConfigError(`${ENV.queues}: weight of ${name} must be a non-negative integer, got "${w}"`);
    out.push({ name, weight });
  }
  return out;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

/** `6`, `7`, `8` (or `7.3.10`): the oldest Sidekiq reading this Redis; undefined when unset. */
export function parseSidekiqVersion(text: string | undefined): SidekiqVersion | undefined {
  if (text === undefined || text === '') return undefined;
  const major = Number(text.split('.')[0]);
  if (major === 6 || major === 7 || major === 8) return major;
  throw new ConfigError(`${ENV.sidekiqVersion} must be 6, 7 or 8 (the oldest Sidekiq reading this Redis), got "${text}"`);
}

/** A log level from `name` (default {@link ENV.logLevel}); `info` when unset. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env, name: string = ENV.logLevel): LogLevel {
  const v = (env[name] ?? '').toLowerCase();
  if (v === '') return 'info';
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new ConfigError(`${name} must be debug, info, warn or error, got "${env[name]}"`);
}

/** What the producer's default client reads (`getClient()`): the namespace and Sidekiq version. */
export function clientConfigFromEnv(env: NodeJS.ProcessEnv = process.env): { namespace?: string; sidekiqVersion?: SidekiqVersion } {
  return { namespace: env[ENV.namespace] || undefined, sidekiqVersion: parseSidekiqVersion(env[ENV.sidekiqVersion]) };
}

export interface SchedulerConfig {
  readonly redisUrl: string;
  readonly namespace?: string;
  readonly sidekiqVersion?: SidekiqVersion;
  /** @defaultValue 1000 */
  readonly intervalMs: number;
  readonly logLevel: LogLevel;
  readonly cron: CronConfig;
}

/** The scheduler function's configuration. */
export function schedulerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  return {
    redisUrl: redisUrlOf(env),
    ...clientConfigFromEnv(env),
    intervalMs: int(env, ENV.schedulerInterval, 1000, 10),
    logLevel: logLevelFromEnv(env),
    cron: cronConfigFromEnv(env),
  };
}

/** Periodic jobs: what the scheduler fires and where sidekiq-cron keeps them (lib/sidekiq/cron-poller.ts). */
export interface CronConfig {
  /** The declared entries; undefined when `SIDEKIQ_LAMBDA_CRON` is unset (then none are written or removed). */
  readonly entries?: readonly CronEntry[];
  /** undefined: detected. */
  readonly layout?: CronLayout;
  /** @defaultValue ['default'] */
  readonly namespaces: readonly string[];
  /** @defaultValue 60 */
  readonly graceSeconds: number;
}

/** `1`, `2`, `1.8.0`, `2.4.0`: sidekiq-cron's major version; undefined when unset. */
export function parseCronVersion(text: string | undefined): CronLayout | undefined {
  if (text === undefined || text === '') return undefined;
  const major = Number(text.split('.')[0]);
  if (major === 1 || major === 2) return major;
  throw new ConfigError(`${ENV.cronVersion} must be 1 or 2 (sidekiq-cron's major version), got "${text}"`);
}

/** Reads the periodic jobs' settings. */
export function cronConfigFromEnv(env: NodeJS.ProcessEnv = process.env): CronConfig {
  const text = env[ENV.cron];
  const namespaces = (env[ENV.cronNamespaces] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    entries: text === undefined || text === '' ? undefined : decodeCron(text),
    layout: parseCronVersion(env[ENV.cronVersion]),
    namespaces: namespaces.length > 0 ? namespaces : ['default'],
    graceSeconds: int(env, ENV.cronGrace, 60, 0),
  };
}

/**
 * Builds the Redis URL from REDIS_URL, or from REDIS_HOST/PORT/TLS/DB/USERNAME/AUTH_TOKEN. With
 * REDIS_AUTH_SECRET_ARN the URL carries no password: connections read it from the secret.
 */
export function redisUrlOf(env: NodeJS.ProcessEnv): string {
  if (env[ENV.redisUrl]) return env[ENV.redisUrl]!;
  const host = env[ENV.redisHost];
  if (!host) return DEFAULT_REDIS_URL;
  const tls = (env[ENV.redisTls] ?? 'false').toLowerCase() === 'true';
  const token = env[ENV.redisAuthToken];
  const user = env[ENV.redisUsername];
  const userinfo = (user ? encodeURIComponent(user) : '') + (token ? `:${encodeURIComponent(token)}` : '');
  const db = int(env, ENV.redisDb, 0, 0);
  return `${tls ? 'rediss' : 'redis'}://${userinfo ? `${userinfo}@` : ''}${host}:${env[ENV.redisPort] || 6379}/${db}`;
}

/** Where the AUTH token lives when it rotates: a Secrets Manager secret, and its JSON key if any. */
export interface RedisSecretRef {
  /** The secret's ARN (or name). */
  readonly secretId: string;
  readonly field?: string;
}

/** The AUTH secret named by REDIS_AUTH_SECRET_ARN, or undefined. */
export function redisSecretFromEnv(env: NodeJS.ProcessEnv = process.env): RedisSecretRef | undefined {
  const secretId = env[ENV.redisAuthSecretArn];
  if (!secretId) return undefined;
  if (env[ENV.redisAuthToken]) throw new ConfigError(`set ${ENV.redisAuthSecretArn} or ${ENV.redisAuthToken}, not both`);
  return { secretId, field: env[ENV.redisAuthSecretField] || undefined };
}

export interface PollerConfig {
  readonly redisUrl: string;
  readonly routes: readonly Route[];
  readonly queues: readonly QueueWeight[];
  readonly maxInFlight: number;
  /** Jobs held waiting for a slot of their class, on top of those running. */
  readonly maxWaiting: number;
  readonly shutdownTimeoutSeconds: number;
  readonly healthPort: number;
  readonly lambdaEndpoint?: string;
  readonly namespace?: string;
  readonly sidekiqVersion?: SidekiqVersion;
  readonly tag: string;
  readonly logArgs: boolean;
  readonly metrics: boolean;
  readonly processTtlSeconds: number;
  readonly invoker: 'direct' | 'sdk';
  readonly logLevel: LogLevel;
  /** The AWS region, when the environment names one (the SDK resolves it otherwise). */
  readonly region?: string;
  /** A local endpoint without AWS credentials in the environment: sign with placeholder keys. */
  readonly localCredentials: boolean;
  /** The `Deployment` dimension of every metric. @defaultValue 'default' */
  readonly deployment: string;
  /** ECS task scale-in protection: the agent's URI (absent outside ECS) and the longest stretch in minutes (0: off). */
  readonly protection: { readonly agentUri?: string; readonly maxMinutes: number };
}

/**
 * The poller's queues with the Lambda queue of every shared class added (weight 1 among weighted
 * queues, last in strict order); a queue Ruby shares must not be drained by the poller.
 */
export function withLambdaQueues(queues: readonly QueueWeight[], routes: readonly Route[]): QueueWeight[] {
  for (const r of routes) {
    if (r.shared && queues.some((q) => q.name === r.queue)) {
      throw new ConfigError(`${ENV.queues} lists ${r.queue}, which ${r.class} shares with Ruby (shared: true): the poller must not drain it; it drains ${lambdaQueueOf(r)} for ${r.class}`);
    }
  }
  const weighted = queues.some((q) => q.weight > 0);
  const extra = routes.filter((r) => r.shared && !queues.some((q) => q.name === lambdaQueueOf(r))).map((r) => ({ name: lambdaQueueOf(r), weight: weighted ? 1 : 0 }));
  return [...queues, ...extra];
}

/** Reads the poller's configuration; `routes` may come from the declarations file instead (dev). */
export function pollerConfigFromEnv(env: NodeJS.ProcessEnv = process.env, routes?: readonly Route[]): PollerConfig {
  const rs = routes ?? (env[ENV.jobs] ? decodeRoutes(env[ENV.jobs]!) : undefined);
  if (!rs || rs.length === 0) throw new ConfigError(`no jobs declared: set ${ENV.jobs} (the CDK construct does) or run \`sidekiq-lambda dev\` with a declarations file`);
  const queues = withLambdaQueues(env[ENV.queues] ? parseQueues(env[ENV.queues]!) : [...new Set(rs.map(lambdaQueueOf))].map((name) => ({ name, weight: 0 })), rs);
  const invoker = env[ENV.invoker] || 'direct';
  if (invoker !== 'direct' && invoker !== 'sdk') throw new ConfigError(`${ENV.invoker} must be direct or sdk, got "${invoker}"`);
  const lambdaEndpoint = env[ENV.lambdaEndpoint] || undefined;
  const maxInFlight = int(env, ENV.maxInFlight, POLLER_DEFAULTS.maxInFlight);
  return {
    redisUrl: redisUrlOf(env),
    routes: rs,
    queues,
    maxInFlight,
    maxWaiting: int(env, ENV.maxWaiting, 2 * maxInFlight, 0),
    shutdownTimeoutSeconds: int(env, ENV.shutdownTimeout, POLLER_DEFAULTS.shutdownTimeoutSeconds, 0),
    healthPort: int(env, ENV.healthPort, POLLER_DEFAULTS.healthPort, 0),
    lambdaEndpoint,
    ...clientConfigFromEnv(env),
    tag: env[ENV.tag] ?? '',
    logArgs: env[ENV.debugArgs] === 'true',
    metrics: env[ENV.metrics] !== 'false',
    processTtlSeconds: int(env, ENV.processTtl, POLLER_DEFAULTS.processTtlSeconds),
    invoker,
    logLevel: logLevelFromEnv(env),
    region: env[ENV.region] || env[ENV.defaultRegion] || undefined,
    localCredentials: lambdaEndpoint !== undefined && !env[ENV.accessKeyId],
    deployment: env[ENV.deployment] || 'default',
    protection: { agentUri: env[ENV.ecsAgentUri] || undefined, maxMinutes: int(env, ENV.protectionMaxMinutes, 0, 0) },
  };
}
