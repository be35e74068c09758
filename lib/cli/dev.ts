/**
 * `sidekiq-lambda dev` (and `npm run dev`): the whole stack on one machine.
 *
 * Tasks:
 * 1. Find Redis at `REDIS_URL` (default redis://127.0.0.1:6379/0); if nothing answers and
 *    `redis-server` is on the PATH, start a throwaway one and say so; else explain how to get Redis.
 * 2. Load the job declarations and serve their handlers from the local Lambda endpoint, bundled
 *    by esbuild from the same entry files deploy uses.
 * 3. Run the same poller ECS runs, pointed at that endpoint, and the scheduler loop in-process.
 * 4. Print a line containing `ready`, one readable line per job outcome, and shut down gracefully
 *    on Ctrl-C / SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, describeUrl, ready, DEFAULT_REDIS_URL } from '../redis/connection.js';
import { loadDeclarations, DEFAULT_DECLARATIONS } from '../declarations.js';
import { routeOf } from '../jobs.js';
import { startLocalLambda } from '../local/endpoint.js';
import { startPoller } from './poller.js';
import { runScheduler } from '../sidekiq/scheduled.js';
import { CronPoller } from '../sidekiq/cron-poller.js';
import { keys as makeKeys } from '../protocol/keys.js';
import { clientConfigFromEnv, cronConfigFromEnv, ENV, logLevelFromEnv, pollerConfigFromEnv, redisUrlOf } from '../config.js';
import { createLogger } from '../log.js';

const HELP = `Usage: sidekiq-lambda dev [--config sidekiq-lambda.config.ts] [--port 9001]

Runs the local Lambda endpoint, the poller and the scheduler against REDIS_URL
(default ${DEFAULT_REDIS_URL}; a throwaway redis-server is started if nothing answers there).`;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Redis for dev: the configured one if it answers, else a throwaway `redis-server`. */
async function devRedis(url: string, say: (s: string) => void): Promise<{ url: string; child?: ChildProcess }> {
  const probe = connect(url, { profile: 'producer', connectTimeoutMs: 1500 });
  probe.on('error', () => undefined);
  try {
    await ready(probe, url, 2000);
    await probe.ping();
    return { url };
  } catch {
    // fall through
  } finally {
    probe.disconnect();
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      `nothing answers at ${describeUrl(url)} and redis-server is not installed. Start Redis (e.g. \`apt-get install redis-server\`, ` +
        '`brew install redis`, or `docker run -p 6379:6379 redis:7`) or set REDIS_URL to one you have.',
    );
  }
  const port = await freePort();
  // Its own process group: Ctrl-C in the terminal signals the whole foreground group, and a Redis
  // that died with it would leave the poller's shutdown nothing to write to. Dev stops it last,
  // and on any exit. A watchdog shell stops it too when dev dies without a word (kill -9, a
  // closed terminal), so no redis-server outlives dev.
  const watchdog = `redis-server "$@" & r=$!; trap 'kill $r 2>/dev/null' EXIT INT TERM; while kill -0 ${process.pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done`;
  const child = spawn('sh', ['-c', watchdog, 'sh', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore', detached: true });
  process.once('exit', () => child.kill('SIGTERM'));
  const local = `redis://127.0.0.1:${port}/0`;
  const check = connect(local, { profile: 'producer' });
  check.on('error', () => undefined);
  try {
    for (let i = 0; ; i++) {
      try {
        await ready(check, local, 1000);
        break;
      } catch (e) {
        if (i > 10) throw e;
      }
    }
  } finally {
    check.disconnect();
  }
  say(`nothing answers at ${describeUrl(url)}: started a throwaway redis-server at ${local} (its data goes when dev stops)`);
  return { url: local, child };
}

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const say = (s: string): void => console.log(`sidekiq-lambda dev: ${s}`);
  const log = createLogger({ format: 'pretty', level: logLevelFromEnv() });
  const redis = await devRedis(redisUrlOf(process.env), say);
  const decl = await loadDeclarations(values.config ?? DEFAULT_DECLARATIONS);
  // What a deployed function gets: where Redis is, and how to write for the Sidekiq reading it.
  const { namespace, sidekiqVersion } = clientConfigFromEnv();
  const env: Record<string, string> = { [ENV.redisUrl]: redis.url };
  if (namespace) env[ENV.namespace] = namespace;
  if (sidekiqVersion) env[ENV.sidekiqVersion] = String(sidekiqVersion);
  const lambda = await startLocalLambda({
    port: values.port ? Number(values.port) : 0,
    functions: decl.jobs.map((j) => ({
      name: j.functionName,
      entry: resolve(decl.dir, j.entry),
      handlerExport: j.handlerExport,
      timeoutSeconds: j.timeoutSeconds,
      memoryMb: j.memoryMb,
      concurrency: j.concurrency,
      environment: { ...env, ...j.environment },
    })),
    logger: (line: string) => log.warn(line),
  });
  const cfg = pollerConfigFromEnv(
    { [ENV.healthPort]: '0', ...process.env, [ENV.redisUrl]: redis.url, [ENV.lambdaEndpoint]: lambda.url, [ENV.metrics]: 'false' },
    decl.jobs.map((j) => routeOf(j)),
  );
  const running = await startPoller(cfg, { log });
  const schedRedis = connect(redis.url, { profile: 'process', name: 'sidekiq-lambda-scheduler' });
  schedRedis.on('error', () => undefined);
  let stopping = false;
  const schedKeys = makeKeys(cfg.namespace);
  const scheduler = runScheduler({
    redis: schedRedis,
    keys: schedKeys,
    version: cfg.sidekiqVersion,
    intervalMs: 1000,
    shouldStop: () => stopping,
    log,
    // The periodic jobs of the declarations file, passed in-process.
    cron: new CronPoller({ redis: schedRedis, keys: schedKeys, ...cronConfigFromEnv(), entries: decl.cron, sidekiqVersion: cfg.sidekiqVersion, log }),
  }).catch((e: Error) => log.error('scheduler stopped', { error: e.message }));

  say(
    `ready — Redis ${describeUrl(redis.url)}, Lambda endpoint ${lambda.url}, queues ${cfg.queues.map((q) => q.name).join(', ')}, ` +
      `jobs ${decl.jobs.map((j) => j.class).join(', ')}, /healthz on port ${running.health.port}. Ctrl-C stops.`,
  );
  const shutdown = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(`${sig}: stopping (waiting up to ${cfg.shutdownTimeoutSeconds}s for jobs in flight)`);
    await running.close();
    await scheduler;
    schedRedis.disconnect();
    await lambda.close();
    redis.child?.kill('SIGTERM');
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await running.poller.done;
  await shutdown('stop');
  say('stopped');
  return 0;
}
