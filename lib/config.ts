/**
 * The poller's configuration, read from the environment (what ECS sets) with loud failures.
 *
 * Tasks:
 * 1. Name every environment variable the poller and the scheduler read (`ENV`), so the CDK
 *    construct writes exactly these names.
 * 2. Parse them into a typed `PollerConfig`, with defaults in one table (`POLLER_DEFAULTS`).
 *
 * Pure: no connection is opened here; `infra/` imports the names.
 */
import { decodeRoutes, JOBS_ENV, type Route } from './jobs.js';
import type { SidekiqVersion } from './protocol/time.js';

export const ENV = {
  redisUrl: 'REDIS_URL',
  /** Alternative to REDIS_URL for deployments whose AUTH token is injected separately (ECS secret). */
  redisHost: 'REDIS_HOST',
  redisPort: 'REDIS_PORT',
  redisTls: 'REDIS_TLS',
  redisAuthToken: 'REDIS_AUTH_TOKEN',
  jobs: JOBS_ENV,
  queues: 'SIDEKIQ_LAMBDA_QUEUES',
  maxInFlight: 'SIDEKIQ_LAMBDA_MAX_IN_FLIGHT',
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
} as const;

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
  /** Jobs in flight at once across all classes. */
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

/** Builds the Redis URL from REDIS_URL, or from REDIS_HOST/PORT/TLS/AUTH_TOKEN. */
export function redisUrlOf(env: NodeJS.ProcessEnv): string {
  if (env[ENV.redisUrl]) return env[ENV.redisUrl]!;
  const host = env[ENV.redisHost];
  if (!host) return DEFAULT_REDIS_URL;
  const tls = (env[ENV.redisTls] ?? 'false').toLowerCase() === 'true';
  const token = env[ENV.redisAuthToken];
  const auth = token ? `:${encodeURIComponent(token)}@` : '';
  return `${tls ? 'rediss' : 'redis'}://${auth}${host}:${env[ENV.redisPort] || 6379}/0`;
}

export interface PollerConfig {
  readonly redisUrl: string;
  readonly routes: readonly Route[];
  readonly queues: readonly QueueWeight[];
  readonly maxInFlight: number;
  readonly shutdownTimeoutSeconds: number;
  readonly healthPort: number;
  readonly lambdaEndpoint?: string;
  readonly namespace?: string;
  readonly sidekiqVersion?: SidekiqVersion;
  readonly tag: string;
  readonly logArgs: boolean;
  readonly metrics: boolean;
  readonly processTtlSeconds: number;
}

/** Reads the poller's configuration; `routes` may come from the declarations file instead (dev). */
export function pollerConfigFromEnv(env: NodeJS.ProcessEnv = process.env, routes?: readonly Route[]): PollerConfig {
  const rs = routes ?? (env[ENV.jobs] ? decodeRoutes(env[ENV.jobs]!) : undefined);
  if (!rs || rs.length === 0) throw new ConfigError(`no jobs declared: set ${ENV.jobs} (the CDK construct does) or run \`sidekiq-lambda dev\` with a declarations file`);
  const queues = env[ENV.queues] ? parseQueues(env[ENV.queues]!) : [...new Set(rs.map((r) => r.queue))].map((name) => ({ name, weight: 0 }));
  const version = env[ENV.sidekiqVersion];
  let sidekiqVersion: SidekiqVersion | undefined;
  if (version) {
    const major = Number(version.split('.')[0]);
    if (major !== 6 && major !== 7 && major !== 8) throw new ConfigError(`${ENV.sidekiqVersion} must be 6, 7 or 8, got "${version}"`);
    sidekiqVersion = major;
  }
  return {
    redisUrl: redisUrlOf(env),
    routes: rs,
    queues,
    maxInFlight: int(env, ENV.maxInFlight, POLLER_DEFAULTS.maxInFlight),
    shutdownTimeoutSeconds: int(env, ENV.shutdownTimeout, POLLER_DEFAULTS.shutdownTimeoutSeconds, 0),
    healthPort: int(env, ENV.healthPort, POLLER_DEFAULTS.healthPort, 0),
    lambdaEndpoint: env[ENV.lambdaEndpoint] || undefined,
    namespace: env[ENV.namespace] || undefined,
    sidekiqVersion,
    tag: env[ENV.tag] ?? '',
    logArgs: env[ENV.debugArgs] === 'true',
    metrics: env[ENV.metrics] !== 'false',
    processTtlSeconds: int(env, ENV.processTtl, POLLER_DEFAULTS.processTtlSeconds),
  };
}
