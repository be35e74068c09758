/**
 * Operator commands over `lib/sidekiq/api.ts`: `stats`, `queues`, `job`, `cancel`, `retry`, `kill`,
 * `clear`, and `scheduler` (the promotion loop in the foreground).
 *
 * Each takes `--redis URL` (else REDIS_URL, else redis://127.0.0.1:6379/0), `--namespace` and
 * `--help`. Destructive commands ask for confirmation on a terminal and refuse without one unless
 * `--yes`; long scans report progress on stderr.
 */
import { createLogger } from '../log.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createInterface } from 'node:readline/promises';
import type { Redis } from 'ioredis';
import { cancelJob, clearQueue, findJob, killJob, queueList, retryAll, retryJob, stats, type ApiContext, type JobLocation } from '../sidekiq/api.js';
import { connect, ready } from '../redis/connection.js';
import { cronConfigFromEnv, parseSidekiqVersion, redisUrlOf } from '../config.js';
import { CronPoller } from '../sidekiq/cron-poller.js';
import { keys as makeKeys } from '../protocol/keys.js';
import { runScheduler } from '../sidekiq/scheduled.js';

/** Where a command reads and writes: injectable for tests. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Whether stdin/stderr are a terminal (confirmation and progress). */
  readonly tty: boolean;
  ask(question: string): Promise<string>;
}

export const processIo: Io = {
  out: (l) => console.log(l),
  err: (l) => console.error(l),
  tty: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  async ask(q) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(q);
    } finally {
      rl.close();
    }
  },
};

export class UsageError extends Error {
  override name = 'UsageError';
}

const COMMON = {
  redis: { type: 'string' },
  namespace: { type: 'string' },
  'sidekiq-version': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const COMMON_HELP = `  --redis URL        default REDIS_URL, else redis://127.0.0.1:6379/0
  --namespace NS     redis-namespace prefix (Sidekiq 6)
  --sidekiq-version  6 | 7 | 8: the oldest Sidekiq reading this Redis (enqueued_at format; default 7)
  -h, --help`;

interface Spec<O extends ParseArgsConfig['options']> {
  usage: string;
  options: O;
  positionals: number;
  run(ctx: ApiContext, values: Record<string, string | boolean | undefined>, pos: string[], io: Io): Promise<number>;
}

async function withContext(values: Record<string, unknown>, io: Io, body: (ctx: ApiContext, redis: Redis) => Promise<number>): Promise<number> {
  const url = (values.redis as string | undefined) ?? redisUrlOf(process.env);
  const redis = connect(url, { profile: 'producer', name: 'sidekiq-lambda-ops' });
  try {
    await ready(redis, url);
    const ctx: ApiContext = {
      redis,
      keys: makeKeys(values.namespace as string | undefined),
      version: parseSidekiqVersion(values['sidekiq-version'] as string | undefined),
      progress: (done, total) => {
        if (io.tty) process.stderr.write(`\r${done}/${total}`);
        else if (done === total) io.err(`${done}/${total}`);
      },
    };
    return await body(ctx, redis);
  } finally {
    redis.disconnect();
  }
}

/** Asks before a destructive action; without a terminal, only `--yes` proceeds. */
export async function confirm(io: Io, yes: boolean | undefined, what: string): Promise<boolean> {
  if (yes) return true;
  if (!io.tty) {
    io.err(`refusing to ${what} without confirmation: not a terminal; pass --yes`);
    return false;
  }
  const answer = (await io.ask(`${what}? [y/N] `)).trim().toLowerCase();
  return answer === 'y' || answer === 'yes';
}

function describeLoc(l: JobLocation): string {
  return l.where === 'queue' ? `queue:${l.queue}` : `${l.where} (score ${l.score})`;
}

function fmtLatency(s: number): string {
  return s < 60 ? `${s.toFixed(1)}s` : s < 3600 ? `${(s / 60).toFixed(1)}m` : `${(s / 3600).toFixed(1)}h`;
}

const jidArg = (pos: string[]): string => {
  const jid = pos[0];
  if (!jid) throw new UsageError('a jid is required');
  return jid;
};

const SPECS: Record<string, Spec<ParseArgsConfig['options']>> = {
  stats: {
    usage: 'stats [--json]',
    options: { json: { type: 'boolean' } },
    positionals: 0,
    async run(ctx, v, _p, io) {
      const s = await stats(ctx);
      if (v.json) {
        io.out(JSON.stringify(s));
        return 0;
      }
      io.out(`Processed: ${s.processed}   Failed: ${s.failed}   Success rate: ${s.successRate === null ? 'n/a' : `${s.successRate}%`}`);
      io.out(`Enqueued: ${s.enqueued}   Scheduled: ${s.scheduled}   Retries: ${s.retries}   Dead: ${s.dead}`);
      io.out(`Processes: ${s.processes}   Busy: ${s.busy}`);
      for (const q of s.queues) io.out(`  ${q.name.padEnd(24)} ${String(q.size).padStart(9)}  latency ${fmtLatency(q.latency)}`);
      return 0;
    },
  },
  queues: {
    usage: 'queues [--json]',
    options: { json: { type: 'boolean' } },
    positionals: 0,
    async run(ctx, v, _p, io) {
      const qs = await queueList(ctx);
      if (v.json) io.out(JSON.stringify(qs));
      else for (const q of qs) io.out(`${q.name.padEnd(24)} ${String(q.size).padStart(9)}  latency ${fmtLatency(q.latency)}`);
      return 0;
    },
  },
  job: {
    usage: 'job <jid> [--json]',
    options: { json: { type: 'boolean' } },
    positionals: 1,
    async run(ctx, v, p, io) {
      const locs = await findJob(ctx, jidArg(p));
      if (v.json) io.out(JSON.stringify(locs));
      else if (locs.length === 0) io.out('not found');
      else for (const l of locs) io.out(`${describeLoc(l)}\n${l.payload}`);
      return locs.length === 0 ? 2 : 0;
    },
  },
  cancel: {
    usage: 'cancel <jid> [--yes]',
    options: { yes: { type: 'boolean', short: 'y' } },
    positionals: 1,
    async run(ctx, v, p, io) {
      const jid = jidArg(p);
      if (!(await confirm(io, v.yes as boolean, `cancel job ${jid}`))) return 1;
      const removed = await cancelJob(ctx, jid);
      io.out(removed.length === 0 ? `${jid}: no queued, scheduled or retry entry found` : removed.map((l) => `removed from ${describeLoc(l)}`).join('\n'));
      return removed.length === 0 ? 2 : 0;
    },
  },
  retry: {
    usage: 'retry <jid> | retry --all [--dead] [--yes]',
    options: { all: { type: 'boolean' }, dead: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } },
    positionals: 0,
    async run(ctx, v, p, io) {
      if (v.all) {
        const set = v.dead ? 'dead' : 'retry';
        const n = await ctx.redis.zcard(ctx.keys[set]);
        if (!(await confirm(io, v.yes as boolean, `put all ${n} jobs of the ${set} set back on their queues`))) return 1;
        const r = await retryAll(ctx, set);
        if (io.tty) process.stderr.write('\n');
        io.out(`${r.moved} jobs put back on their queues${r.skipped ? `; ${r.skipped} unreadable entries left in ${set}` : ''}`);
        return 0;
      }
      const jid = jidArg(p);
      const done = await retryJob(ctx, jid);
      io.out(done.length === 0 ? `${jid}: not in the retry or dead set` : done.map((l) => `retried from ${l.where}`).join('\n'));
      return done.length === 0 ? 2 : 0;
    },
  },
  kill: {
    usage: 'kill <jid> [--yes]',
    options: { yes: { type: 'boolean', short: 'y' } },
    positionals: 1,
    async run(ctx, v, p, io) {
      const jid = jidArg(p);
      if (!(await confirm(io, v.yes as boolean, `move job ${jid} to the dead set`))) return 1;
      const done = await killJob(ctx, jid);
      io.out(done.length === 0 ? `${jid}: not in the retry or scheduled set` : done.map((l) => `killed from ${l.where}`).join('\n'));
      return done.length === 0 ? 2 : 0;
    },
  },
  clear: {
    usage: 'clear <queue> [--yes]',
    options: { yes: { type: 'boolean', short: 'y' } },
    positionals: 1,
    async run(ctx, v, p, io) {
      const q = p[0];
      if (!q) throw new UsageError('a queue name is required');
      const n = await ctx.redis.llen(ctx.keys.queue(q));
      if (!(await confirm(io, v.yes as boolean, `delete queue ${q} and its ${n} jobs`))) return 1;
      io.out(`deleted queue ${q} (${await clearQueue(ctx, q)} jobs)`);
      return 0;
    },
  },
  scheduler: {
    usage: 'scheduler [--interval MS] [--for SECONDS]',
    options: { interval: { type: 'string' }, for: { type: 'string' } },
    positionals: 0,
    async run(ctx, v, _p, io) {
      const intervalMs = v.interval === undefined ? 1000 : Number(v.interval);
      if (!Number.isFinite(intervalMs) || intervalMs < 10) throw new UsageError(`--interval must be milliseconds ≥ 10, got "${String(v.interval)}"`);
      const seconds = v.for === undefined ? undefined : Number(v.for);
      if (seconds !== undefined && !(seconds > 0)) throw new UsageError(`--for must be a positive number of seconds, got "${String(v.for)}"`);
      let stopping = false;
      const onSignal = (): void => {
        stopping = true;
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        const log = createLogger({ sink: io.err });
        const s = await runScheduler({
          redis: ctx.redis, keys: ctx.keys, version: ctx.version, intervalMs,
          deadline: seconds === undefined ? undefined : Date.now() + seconds * 1000,
          shouldStop: () => stopping,
          log,
          // Fires the periodic jobs in Redis too (and writes SIDEKIQ_LAMBDA_CRON's, when set), as the scheduler function does.
          cron: new CronPoller({ redis: ctx.redis, keys: ctx.keys, ...cronConfigFromEnv(), sidekiqVersion: ctx.version, log }),
        });
        io.out(JSON.stringify(s));
        return 0;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    },
  },
};

/** Runs one ops command: `opsCommand('stats')(['--json'])`. */
export function opsCommand(name: keyof typeof SPECS | string, io: Io = processIo): (argv: string[]) => Promise<number> {
  const spec = SPECS[name];
  if (!spec) throw new Error(`unknown ops command ${name}`);
  return async (argv) => {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, ...spec.options }, allowPositionals: true, strict: true });
    if (values.help) {
      io.out(`Usage: sidekiq-lambda ${spec.usage} [options]\n\n${COMMON_HELP}`);
      return 0;
    }
    if (positionals.length > Math.max(spec.positionals, name === 'retry' ? 1 : 0)) throw new UsageError(`unexpected argument "${positionals.at(-1)}"`);
    return withContext(values, io, (ctx) => spec.run(ctx, values as Record<string, string | boolean | undefined>, positionals, io));
  };
}

/** One-line summaries for the command registry. */
export const OPS_SUMMARIES: Record<string, string> = {
  stats: 'processed, failed, success rate, queues with latency, scheduled/retry/dead sizes, processes [--json]',
  queues: 'queues with size and latency [--json]',
  job: 'where a job is (queue, scheduled, retry, dead) with its payload: job <jid>',
  cancel: 'remove a queued, scheduled or retry job: cancel <jid> [--yes]',
  retry: 'put a retry/dead job back on its queue: retry <jid> | retry --all [--dead] [--yes]',
  kill: 'move a retry or scheduled job to the dead set: kill <jid> [--yes]',
  clear: 'delete a queue and its jobs: clear <queue> [--yes]',
  scheduler: 'promote due scheduled and retry jobs and fire due periodic jobs every second [--interval MS] [--for S]',
};
