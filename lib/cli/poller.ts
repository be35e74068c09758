/**
 * `sidekiq-lambda poller`: the ECS entry point. Reads the environment (see lib/config.ts), starts
 * the poller, its health endpoint and its metrics, and stops gracefully on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { connect } from '../redis/connection.js';
import { pollerConfigFromEnv, ENV, type PollerConfig } from '../config.js';
import { DirectInvoker, SdkInvoker, type Invoker } from '../lambda/invoker.js';
import { Poller } from '../poller/poller.js';
import { startHealthServer, type HealthServer } from '../poller/health.js';
import { startMonitor } from '../poller/monitor.js';
import { createLogger, type Logger } from '../log.js';
import { loadDeclarations } from '../declarations.js';
import { routeOf } from '../jobs.js';

const HELP = `Usage: sidekiq-lambda poller [--config FILE]

Drains the declared jobs' queues from Redis and runs each job on its Lambda function.
Configuration comes from the environment (the CDK construct sets it):
  REDIS_URL (or REDIS_HOST, REDIS_PORT, REDIS_TLS, REDIS_DB, REDIS_USERNAME, and
    REDIS_AUTH_SECRET_ARN [+ REDIS_AUTH_SECRET_FIELD]: the token from Secrets Manager, re-read on rotation;
    or REDIS_AUTH_TOKEN)
  ${ENV.jobs}            routes, written by the CDK construct (or --config FILE: a declarations file)
  ${ENV.queues}          e.g. "track,2 diagnostics,1" (default: the declared queues, strict order)
  ${ENV.maxInFlight}     jobs running at once, all classes together (default 100)
  ${ENV.maxWaiting}      jobs fetched ahead, waiting for a slot of their class (default twice the above)
  ${ENV.shutdownTimeout} seconds to wait for in-flight jobs on SIGTERM (default 25)
  ${ENV.healthPort}      /healthz and /stats (default 8080; 0 = any free port)
  ${ENV.lambdaEndpoint}  a local Lambda endpoint (dev, tests)
  ${ENV.deployment}      the Deployment dimension of its metrics (default "default")
  ${ENV.protectionMaxMinutes}  on ECS: hold task scale-in protection while jobs run, at most this long at a stretch (default 0: off)
  SIDEKIQ_NAMESPACE, SIDEKIQ_VERSION (6|7|8), SIDEKIQ_LAMBDA_LOG_LEVEL, ${ENV.debugArgs}=true`;

export interface RunningPoller {
  readonly poller: Poller;
  readonly health: HealthServer;
  close(): Promise<void>;
}

/** The Lambda port a poller with this configuration uses: sockets for its cap, timeouts above its functions'. */
export function makeInvoker(cfg: PollerConfig): Invoker {
  const maxTimeout = Math.max(...cfg.routes.map((r) => r.timeoutSeconds));
  const invokerOpts = { maxSockets: cfg.maxInFlight, maxTimeoutSeconds: maxTimeout, endpoint: cfg.lambdaEndpoint, region: cfg.region, localCredentials: cfg.localCredentials };
  return cfg.invoker === 'sdk' ? new SdkInvoker(invokerOpts) : new DirectInvoker(invokerOpts);
}

/** Wires a poller from a configuration: connections, invoker, health endpoint, metrics. */
export async function startPoller(cfg: PollerConfig, opts: { log?: Logger; invoker?: Invoker; identity?: string; processTtlSeconds?: number; heartbeatIntervalMs?: number; recoveryIntervalMs?: number; stuckAfterMs?: number; redisAwayLimitMs?: number } = {}): Promise<RunningPoller> {
  const log = opts.log ?? createLogger({ level: cfg.logLevel });
  const redis = connect(cfg.redisUrl, { profile: 'process', name: 'sidekiq-lambda-poller' });
  redis.on('error', (e: Error) => log.warn('Redis connection error', { error: e.message }));
  const invoker = opts.invoker ?? makeInvoker(cfg);
  const poller = new Poller({
    redis,
    blockingConnection: () => connect(cfg.redisUrl, { profile: 'process', name: 'sidekiq-lambda-poller-fetch' }),
    routes: cfg.routes,
    queues: cfg.queues,
    invoker,
    log,
    maxInFlight: cfg.maxInFlight,
    maxWaiting: cfg.maxWaiting,
    shutdownTimeoutSeconds: cfg.shutdownTimeoutSeconds,
    namespace: cfg.namespace,
    sidekiqVersion: cfg.sidekiqVersion,
    tag: cfg.tag,
    logArgs: cfg.logArgs,
    identity: opts.identity,
    processTtlSeconds: opts.processTtlSeconds ?? cfg.processTtlSeconds,
    // Sidekiq 6 beats every 5 s against a 60 s TTL; keep that ratio when the TTL is lowered.
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? Math.min(5000, (cfg.processTtlSeconds * 1000) / 6),
    recoveryIntervalMs: opts.recoveryIntervalMs,
    stuckAfterMs: opts.stuckAfterMs,
    redisAwayLimitMs: opts.redisAwayLimitMs,
    version: 'sidekiq-lambda/0.1.0',
    protection: cfg.protection,
  });
  await poller.start();
  const health = await startHealthServer({ problem: () => poller.problem(), stats: () => poller.snapshot() }, cfg.healthPort);
  const monitor = cfg.metrics
    ? startMonitor({ redis, keys: poller.keys, queues: cfg.queues.map((q) => q.name), counters: poller.counters, inFlight: () => poller.busy(), running: () => poller.running(), maxInFlight: cfg.maxInFlight, deployment: cfg.deployment })
    : undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      monitor?.stop();
      await poller.stop();
      await health.close();
      invoker.close();
      // QUIT waits for Redis; during an outage, drop the connection instead of holding the exit.
      await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
      redis.disconnect();
    })());
  // A Stop from the Web UI stops the poller itself; finish the rest of the shutdown too.
  void poller.done.then(close);
  return { poller, health, close };
}

export async function pollerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const routes = values.config ? (await loadDeclarations(values.config)).jobs.map((j) => routeOf(j)) : undefined;
  const cfg = pollerConfigFromEnv(process.env, routes);
  const log = createLogger({ level: cfg.logLevel });
  const running = await startPoller(cfg, { log });
  log.info('ready', { identity: running.poller.identity, health: `http://0.0.0.0:${running.health.port}/healthz` });
  const onSignal = (sig: string): void => {
    log.info(`${sig}: stopping gracefully`, { deadlineSeconds: cfg.shutdownTimeoutSeconds });
    void running.close();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  await running.poller.done;
  await running.close();
  return 0;
}
