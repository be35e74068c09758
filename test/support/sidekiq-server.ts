/**
 * A real Ruby Sidekiq server (`sidekiq -r test/e2e/fixtures/routing_app.rb`) of one entry of the Sidekiq matrix,
 * with the sidekiq-lambda gem loaded as a Rails app loads it, for the routing tests: started, waited for (it marks
 * itself up in `e2e:ruby-up`), stopped with TERM or killed -9.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Sidekiq } from './sidekiq-matrix.js';

export const ROUTING_APP = fileURLToPath(new URL('../e2e/fixtures/routing_app.rb', import.meta.url));
export const ACTIVE_JOB_RB = fileURLToPath(new URL('../ruby/active_job.rb', import.meta.url));

/** The environment the routing app needs (ActiveJob set up as on this Sidekiq). */
export function appEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { SKL_ACTIVE_JOB: ACTIVE_JOB_RB, ...extra };
}

export interface SidekiqServer {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** TERM, then wait for the exit (Sidekiq's shutdown flushes its stats and ours). */
  stop(): Promise<void>;
  /** kill -9. */
  kill(): Promise<void>;
}

/** Starts `sidekiq` on `queues` with `concurrency` threads and waits until it is up. */
export async function startSidekiq(sk: Sidekiq, url: string, redis: Redis, opts: { queues?: string[]; concurrency?: number; env?: Record<string, string> } = {}): Promise<SidekiqServer> {
  const args = [sk.bin('sidekiq'), '-r', ROUTING_APP, '-c', String(opts.concurrency ?? 5), '-t', '2', ...(opts.queues ?? ['default']).flatMap((q) => ['-q', q])];
  const child = sk.spawn(args, url, appEnv(opts.env));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  while (!(await redis.sismember('e2e:ruby-up', String(child.pid)))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sidekiq (${sk.entry}) did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => out,
    async stop() {
      if (alive()) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs of Ruby's side: jid → count. */
export async function rubyRuns(redis: Redis): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const jid of await redis.lrange('e2e:ruby-ran', 0, -1)) m.set(jid, (m.get(jid) ?? 0) + 1);
  return m;
}
