/**
 * What the `SidekiqLambda` construct refuses and what it warns about, before any resource exists.
 *
 * Tasks:
 * 1. Refuse conflicting or unsafe props with fixed messages (`ERRORS`) that tests assert, before
 *    any resource is created (`validateProps`, a pure function): Redis and VPC pairs, task counts,
 *    deadlines, targets, `queues` against the declarations, construct IDs that would collide.
 * 2. Name the warnings a synth prints for what is allowed but risky (`WARNINGS`).
 * 3. Derive what both the checks and the construct need: construct IDs from names, the default
 *    length of scale-in protection.
 */
import { Token } from 'aws-cdk-lib';
import { defineJobs } from '../lib/jobs.js';
import { parseQueues, POLLER_DEFAULTS } from '../lib/config.js';
import { INFRA_DEFAULTS, MAX_STOP_TIMEOUT_SECONDS, STOP_MARGIN_SECONDS, type SidekiqLambdaProps } from './props.js';

export const ERRORS = {
  bothVpcs: 'SidekiqLambda: pass existingVpc or vpcProps, not both',
  bothRedis: 'SidekiqLambda: pass existingRedis (an endpoint you run) or redisProps (a new replication group), not both',
  serverless:
    'SidekiqLambda: ElastiCache Serverless is not supported: it always runs in cluster mode, where Sidekiq\'s multi-key commands ' +
    '(MULTI/EXEC across queue and stat keys, Lua scripts over several keys) fail with CROSSSLOT. ' +
    'Use a replication group with cluster mode disabled (redisProps) or such an existing endpoint (existingRedis)',
  clusterMode:
    'SidekiqLambda: existingRedis.host is a cluster-mode configuration endpoint (clustercfg.*); Sidekiq needs cluster mode disabled: ' +
    'use the primary endpoint of a replication group with cluster mode disabled',
  missingSecret:
    'SidekiqLambda: existingRedis.authSecret is missing: pass the Secrets Manager secret that holds the AUTH token, ' +
    'or set existingRedis.noAuth: true for a Redis without AUTH',
  secretAndNoAuth: 'SidekiqLambda: existingRedis.noAuth is true but an authSecret is given; pass one or the other',
  port: 'SidekiqLambda: existingRedis.port must be an integer from 1 to 65535',
  noJobs: 'SidekiqLambda: jobs is empty: declare at least one job class with defineJobs([...])',
  minTasks: 'SidekiqLambda: minTasks must be at least 1: the poller publishes the backlog metric that scales it out, so at 0 nothing would ever scale it back up',
  maxTasks: 'SidekiqLambda: maxTasks must be at least minTasks',
  desiredTasks: 'SidekiqLambda: desiredTasks must be between minTasks and maxTasks',
  shutdown: `SidekiqLambda: shutdownTimeoutSeconds must be an integer from 0 to ${MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS} (ECS stops a task after at most ${MAX_STOP_TIMEOUT_SECONDS} s, and the poller needs ${STOP_MARGIN_SECONDS} s of margin)`,
  database: 'SidekiqLambda: existingRedis.database must be an integer of at least 0',
  username: 'SidekiqLambda: existingRedis.username must not be empty; leave it out for the default user',
  sidekiqVersion: 'SidekiqLambda: sidekiqVersion must be 6, 7 or 8 (the oldest Sidekiq that reads this Redis)',
  maxInFlight: 'SidekiqLambda: maxInFlight must be an integer of at least 1 (the jobs one poller holds at once)',
  targetUtilization: 'SidekiqLambda: targetUtilizationPercent must be a number above 0 and at most 100',
  targetCpu: 'SidekiqLambda: targetCpuPercent must be a number above 0 and at most 100',
  queueLatencyAlarm: 'SidekiqLambda: queueLatencyAlarmSeconds must be a number above 0',
  alarmThreshold: (name: string) => `SidekiqLambda: alarmThresholds.${name} must be a number above 0`,
  maxProtection: 'SidekiqLambda: maxProtectionMinutes must be an integer from 0 to 2880 (ECS protects a task for at most 48 hours)',
  deploymentName: 'SidekiqLambda: deploymentName must be 1 to 255 characters',
  queueWithoutJobs: (queue: string) =>
    `SidekiqLambda: queues names "${queue}", but no declared job uses it: the poller would take its jobs and fail them as unrouted. Remove it from queues, or declare its job classes`,
  queueLeftOut: (cls: string, queue: string) =>
    `SidekiqLambda: job ${cls} uses queue "${queue}", which queues leaves out: its jobs would never be drained. Add "${queue}" to queues`,
  idCollision: (kind: 'job classes' | 'queues', a: string, b: string, id: string) =>
    `SidekiqLambda: ${kind} ${a} and ${b} would share the construct ID ${id} (IDs keep only letters and digits)` +
    (kind === 'job classes' ? '; route one of them to a function of your own with sidekiq.route(job, fn) instead of declaring it in jobs' : '; rename one of the queues'),
} as const;

/** Warnings a synth prints (and `cdk synth --strict` fails on); each can be acknowledged by its id. */
export const WARNINGS = {
  noSecurityGroup: {
    id: 'sidekiq-lambda:existingRedisWithoutSecurityGroup',
    message:
      'SidekiqLambda: existingRedis.securityGroup is not set, so no ingress rule lets the poller, the scheduler and needsRedis functions reach Redis; ' +
      "allow the security groups in sidekiq.network.redisClients on your Redis's security group yourself",
  },
  authWithoutTls: {
    id: 'sidekiq-lambda:authWithoutTls',
    message:
      'SidekiqLambda: existingRedis.tls is false but an authSecret is given: the AUTH token crosses the network in plain text on every connect; ' +
      'enable in-transit encryption on the Redis and set tls: true',
  },
  noAlarmTopic: {
    id: 'sidekiq-lambda:noAlarmTopic',
    message: 'SidekiqLambda: alarmTopic is not set: the alarms change state on the dashboard but notify no one; pass an SNS topic to be told',
  },
  longJob: {
    id: 'sidekiq-lambda:jobOutlastsShutdown',
    message: (cls: string, timeout: number, shutdown: number, protectionMinutes: number) =>
      `SidekiqLambda: job ${cls} may run ${timeout} s, longer than the poller waits for running jobs when ECS stops it ` +
      `(shutdownTimeoutSeconds ${shutdown} s; ECS allows at most ${MAX_STOP_TIMEOUT_SECONDS} s). ` +
      (protectionMinutes > 0
        ? `Deploys and scale-in wait while a poller runs jobs (task scale-in protection, at most ${protectionMinutes} min at a stretch); `
        : 'Task scale-in protection is off (maxProtectionMinutes: 0), so a deploy or scale-in runs it again; ') +
      'a job still running when a task stops anyway (a crash, protection lapsed) runs again. Make it idempotent, or shorter',
  },
} as const;

/**
 * The construct ID the construct derives from a class or queue name.
 *
 * @example
 * constructId('Admin::ReportJob'); // 'AdminReportJob'
 */
export function constructId(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, '');
}

/** The first two names that share a construct ID, or undefined. */
function collision(names: readonly string[]): [string, string, string] | undefined {
  const seen = new Map<string, string>();
  for (const name of names) {
    const id = constructId(name);
    const other = seen.get(id);
    if (other !== undefined && other !== name) return [other, name, id];
    seen.set(id, name);
  }
  return undefined;
}

const positive = (n: number | undefined): boolean => n === undefined || (typeof n === 'number' && Number.isFinite(n) && n > 0);
const percent = (n: number | undefined): boolean => positive(n) && (n === undefined || n <= 100);

function isInt(n: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/**
 * Throws the fixed message for the first conflicting or unsafe input. Pure: creates nothing.
 *
 * @example
 * validateProps({ jobs, redisProps: { serverless: true } }); // throws ERRORS.serverless
 */
export function validateProps(props: SidekiqLambdaProps): void {
  if (props.jobs.length === 0) throw new Error(ERRORS.noJobs);
  if (props.existingVpc && props.vpcProps) throw new Error(ERRORS.bothVpcs);
  if (props.existingRedis && props.redisProps) throw new Error(ERRORS.bothRedis);
  if (props.redisProps?.serverless) throw new Error(ERRORS.serverless);
  const r = props.existingRedis;
  if (r) {
    if (!Token.isUnresolved(r.host)) {
      if (/\.serverless\.[^.]+\.cache\.amazonaws\.com$/.test(r.host)) throw new Error(ERRORS.serverless);
      if (/^clustercfg\./.test(r.host)) throw new Error(ERRORS.clusterMode);
    }
    if (r.port !== undefined && !isInt(r.port, 1, 65_535)) throw new Error(ERRORS.port);
    if (r.noAuth && r.authSecret) throw new Error(ERRORS.secretAndNoAuth);
    if (!r.noAuth && !r.authSecret) throw new Error(ERRORS.missingSecret);
    if (r.database !== undefined && !isInt(r.database, 0)) throw new Error(ERRORS.database);
    if (r.username !== undefined && r.username.trim() === '') throw new Error(ERRORS.username);
  }
  const min = props.minTasks ?? INFRA_DEFAULTS.minTasks;
  const max = props.maxTasks ?? Math.max(INFRA_DEFAULTS.maxTasks, min);
  if (!isInt(min, 1)) throw new Error(ERRORS.minTasks);
  if (!isInt(max, min)) throw new Error(ERRORS.maxTasks);
  if (props.desiredTasks !== undefined && !isInt(props.desiredTasks, min, max)) throw new Error(ERRORS.desiredTasks);
  const shutdown = props.shutdownTimeoutSeconds ?? POLLER_DEFAULTS.shutdownTimeoutSeconds;
  if (!isInt(shutdown, 0, MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS)) throw new Error(ERRORS.shutdown);
  if (props.sidekiqVersion !== undefined && ![6, 7, 8].includes(props.sidekiqVersion)) throw new Error(ERRORS.sidekiqVersion);
  if (props.maxInFlight !== undefined && !isInt(props.maxInFlight, 1)) throw new Error(ERRORS.maxInFlight);
  if (!percent(props.targetUtilizationPercent)) throw new Error(ERRORS.targetUtilization);
  if (!percent(props.targetCpuPercent)) throw new Error(ERRORS.targetCpu);
  if (!positive(props.queueLatencyAlarmSeconds)) throw new Error(ERRORS.queueLatencyAlarm);
  for (const [name, value] of Object.entries(props.alarmThresholds ?? {})) if (!positive(value as number)) throw new Error(ERRORS.alarmThreshold(name));
  if (props.maxProtectionMinutes !== undefined && !isInt(props.maxProtectionMinutes, 0, 2880)) throw new Error(ERRORS.maxProtection);
  if (props.deploymentName !== undefined && !(props.deploymentName.length >= 1 && props.deploymentName.length <= 255)) throw new Error(ERRORS.deploymentName);
  validateJobs(props);
}

/** The declarations against each other and against `queues`. */
function validateJobs(props: SidekiqLambdaProps): void {
  const jobs = defineJobs(props.jobs);
  const classes = collision(jobs.map((j) => j.class));
  if (classes) throw new Error(ERRORS.idCollision('job classes', ...classes));
  const declared = [...new Set(jobs.map((j) => j.queue))];
  const queues = collision(declared);
  if (queues) throw new Error(ERRORS.idCollision('queues', ...queues));
  if (props.queues === undefined) return;
  const listed = new Set(parseQueues(props.queues).map((q) => q.name));
  for (const q of listed) if (!declared.includes(q)) throw new Error(ERRORS.queueWithoutJobs(q));
  for (const j of jobs) if (!listed.has(j.queue)) throw new Error(ERRORS.queueLeftOut(j.class, j.queue));
}

/**
 * `shutdownTimeoutSeconds` with its default: long enough for the longest job to finish (its timeout
 * plus the stop margin for the Invoke's answer), at least the poller's own default, and no longer
 * than ECS allows.
 *
 * @example
 * shutdownSeconds({ jobs }, 60); // 65
 */
export function shutdownSeconds(props: SidekiqLambdaProps, longestTimeoutSeconds: number): number {
  if (props.shutdownTimeoutSeconds !== undefined) return props.shutdownTimeoutSeconds;
  const fits = longestTimeoutSeconds + STOP_MARGIN_SECONDS;
  return Math.min(MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS, Math.max(POLLER_DEFAULTS.shutdownTimeoutSeconds, fits));
}

/**
 * `maxProtectionMinutes` with its default: twice the longest job timeout when a job can outlast the shutdown wait.
 *
 * @example
 * protectionMinutes({ jobs }, 900); // 30: a 900 s job outlasts the longest wait ECS allows (115 s)
 */
export function protectionMinutes(props: SidekiqLambdaProps, longestTimeoutSeconds: number): number {
  if (props.maxProtectionMinutes !== undefined) return props.maxProtectionMinutes;
  return longestTimeoutSeconds > shutdownSeconds(props, longestTimeoutSeconds) ? 2 * Math.ceil(longestTimeoutSeconds / 60) : 0;
}
