/**
 * The poller against real parts, for end-to-end tests: the local Lambda endpoint serving handler
 * files (the real `@aws-sdk/client-lambda`-compatible Invoke API), and the poller wired exactly as
 * `sidekiq-lambda poller` wires it.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startLocalLambda } from '../../lib/local/endpoint.js';
import { makeInvoker, startPoller, type RunningPoller } from '../../lib/cli/poller.js';
import { pollerConfigFromEnv } from '../../lib/config.js';
import type { Route } from '../../lib/jobs.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { Client } from '../../lib/client.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import type { Invoker } from '../../lib/lambda/invoker.js';

export const HANDLERS = fileURLToPath(new URL('../e2e/fixtures/handlers.ts', import.meta.url));

export interface StackFunction {
  readonly class: string;
  readonly queue: string;
  /** Export of `entry`. */
  readonly handler: string;
  /** The handler file. @defaultValue test/e2e/fixtures/handlers.ts */
  readonly entry?: string;
  /** The function's environment, replacing the default (REDIS_URL to this Redis; LOG_LEVEL warn). */
  readonly environment?: Record<string, string>;
  readonly timeoutSeconds?: number;
  /** The endpoint's concurrency limit (Lambda's reserved concurrency). */
  readonly concurrency?: number;
  /** The poller's per-class cap; above `concurrency` to provoke throttling. */
  readonly routeConcurrency?: number;
  readonly batchSize?: number;
  /** Ruby drains `queue` too (`shared: true`): the poller runs the class from its Lambda queue. */
  readonly shared?: boolean;
}

export interface Stack {
  readonly lambdaUrl: string;
  readonly running: RunningPoller;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startStack(
  redisUrl: string,
  fns: readonly StackFunction[],
  env: Record<string, string> = {},
  opts: { lambdaUrl?: string; extraRoutes?: Route[]; /** More environment for every function. */ functionEnv?: Record<string, string>; /** Fault injection only: wraps the poller's real invoker. */ wrapInvoker?: (real: Invoker) => Invoker; /** Health thresholds, lowered for tests. */ health?: { stuckAfterMs?: number; redisAwayLimitMs?: number } } = {},
): Promise<Stack> {
  const lambda = opts.lambdaUrl
    ? undefined
    : await startLocalLambda({
        port: 0,
        functions: fns.map((f) => ({
          name: `fn-${f.class}`,
          entry: f.entry ?? HANDLERS,
          handlerExport: f.handler,
          timeoutSeconds: f.timeoutSeconds ?? 10,
          memoryMb: 256,
          concurrency: f.concurrency ?? 10,
          environment: f.environment ?? { REDIS_URL: redisUrl, LOG_LEVEL: 'warn', ...opts.functionEnv },
        })),
      });
  const routes: Route[] = [
    ...fns.map((f) => ({
      class: f.class,
      queue: f.queue,
      function: `fn-${f.class}`,
      timeoutSeconds: f.timeoutSeconds ?? 10,
      concurrency: f.routeConcurrency ?? f.concurrency ?? 10,
      batchSize: f.batchSize ?? 1,
      ...(f.shared ? { shared: true } : {}),
    })),
    ...(opts.extraRoutes ?? []),
  ];
  const logs: Record<string, unknown>[] = [];
  const log: Logger = createLogger({
    level: 'debug',
    sink: (line) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env.E2E_LOG) console.log(line);
    },
  });
  const cfg = pollerConfigFromEnv(
    {
      REDIS_URL: redisUrl,
      SIDEKIQ_LAMBDA_ENDPOINT: opts.lambdaUrl ?? lambda!.url,
      SIDEKIQ_LAMBDA_HEALTH_PORT: '0',
      SIDEKIQ_LAMBDA_METRICS: 'false',
      SIDEKIQ_LAMBDA_SHUTDOWN_TIMEOUT: '5',
      ...env,
    },
    routes,
  );
  const invoker = opts.wrapInvoker?.(makeInvoker(cfg));
  const running = await startPoller(cfg, { log, invoker, heartbeatIntervalMs: 500, processTtlSeconds: 3, recoveryIntervalMs: 1000, ...opts.health });
  return {
    lambdaUrl: opts.lambdaUrl ?? lambda!.url,
    running,
    logs,
    close: async () => {
      await running.close();
      await lambda?.close();
    },
  };
}

/** Polls `check` until it returns a truthy value or the time is up. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Executions recorded by the fixture handlers: jid → count. */
export async function executions(redis: Redis): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const jid of await redis.lrange('e2e:ran', 0, -1)) m.set(jid, (m.get(jid) ?? 0) + 1);
  return m;
}

/**
 * A job's payload exactly as the producer writes it, pushed nowhere: for tests that place it
 * themselves (in an in-flight list, or on two queues in one MULTI). Rendered under a scratch
 * namespace on the same Redis, then taken back.
 */
export async function renderJob(redis: Redis, cls: string, queue: string, args: unknown[] = []): Promise<string> {
  const scratch = makeKeys('render-scratch');
  await new Client({ redis, namespace: 'render-scratch' }).push({ class: cls, queue, args });
  const raw = await redis.lpop(scratch.queue(queue));
  await redis.del(scratch.queues);
  return raw!;
}
