/**
 * The heartbeat: the poller registers as a Sidekiq process, so the Web UI's Busy page and
 * `Sidekiq::ProcessSet` / `Sidekiq::Workers` show it and its in-flight jobs
 * (sidekiq-protocol.md §6.2–§6.6, §10 "Heartbeat", Pitfall 8).
 *
 * Tasks:
 * 1. Every `intervalMs` (5 s: within both 6.x's and 7+'s rhythm; keys live 60 s): flush the stats,
 *    rewrite the work hash under both `<id>:work` (6.4.2+) and `<id>:workers` (6.4.1), time a PING,
 *    then in one MULTI register in `processes`, write the process hash with every field a Web UI
 *    version needs, renew its TTL and pop one remote signal.
 * 2. Deliver `TSTP` (quiet), `TERM` (stop) and `TTIN` (diagnostics) from the Web UI to `onSignal`.
 * 3. On stop: flush the stats, leave `processes`, delete the work hashes.
 * A failing beat is logged and retried on the next interval; it never crashes the process.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type { Redis } from 'ioredis';
import { PROCESS_TTL_SECONDS, type Keys } from '../protocol/keys.js';
import { RawJson, writeObject } from '../protocol/json.js';
import { floatSeconds, type EpochMs } from '../protocol/time.js';
import type { Stats } from './stats.js';

/** One in-flight job, as the Busy page lists it. */
export interface WorkEntry {
  /** Unique per in-flight job (Sidekiq's thread id). */
  tid: string;
  queue: string;
  /** The raw job JSON, exactly as fetched. */
  payload: string;
  /** When it started, epoch ms. */
  runAt: number;
}

/** What the heartbeat reports about its process. */
export interface HeartbeatSource {
  busy(): number;
  work(): Iterable<WorkEntry>;
  quiet(): boolean;
}

export type RemoteSignal = 'TSTP' | 'TERM' | 'TTIN';

export interface HeartbeatOptions {
  redis: Redis;
  keys: Keys;
  identity: string;
  /** @defaultValue '' */
  tag: string;
  /** Shown on the Busy page; `sidekiq-lambda` is always added. */
  labels: string[];
  concurrency: number;
  /** Weight 0 for strict order. */
  queues: { name: string; weight: number }[];
  /** Our version string, e.g. `sidekiq-lambda/0.1.0` (shown by 7.0.2+ UIs). */
  version: string;
  source: HeartbeatSource;
  stats: Stats;
  /** @defaultValue 5000 */
  intervalMs?: number;
  /** @defaultValue 60 — Sidekiq's TTL of the process and work hashes; lower only in tests. */
  ttlSeconds?: number;
  onSignal: (sig: RemoteSignal) => void;
  log?: (obj: object) => void;
  /** @defaultValue Date.now */
  now?: () => EpochMs;
}

/**
 * A process identity: `<hostname>:<pid>:<12 hex>`, as Sidekiq's.
 *
 * @example
 * makeIdentity('ip-10-0-0-1') // "ip-10-0-0-1:4242:0123456789ab"
 */
export function makeIdentity(hostname: string = osHostname()): string {
  return `${hostname}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

/** Resident set size in KB: VmRSS from /proc (what Sidekiq reads), else Node's own figure. */
export function rssKb(): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) return Number(m[1]);
  } catch {
    // not Linux
  }
  return Math.round(process.memoryUsage().rss / 1024);
}

/**
 * The `info` JSON of §6.4, readable by every Web UI from 6.4.1 to 8.1.7: `queues` and `started_at`
 * are required, weights are integers, `concurrency` stays in info for ≤ 8.1.1 readers.
 */
export function infoJson(o: Pick<HeartbeatOptions, 'identity' | 'tag' | 'labels' | 'concurrency' | 'queues' | 'version'>, startedAt: EpochMs, hostname: string): string {
  const names = [...new Set(o.queues.map((q) => q.name))];
  const weights: Record<string, number> = {};
  for (const q of o.queues) weights[q.name] = Math.max(0, Math.trunc(q.weight));
  const weighted = Object.values(weights).some((w) => w > 0);
  return writeObject([
    ['hostname', hostname],
    ['started_at', new RawJson(floatSeconds(startedAt))],
    ['pid', process.pid],
    ['tag', o.tag ?? ''],
    ['concurrency', o.concurrency],
    ['queues', names],
    ['weights', [weights]],
    ['capsules', { default: { concurrency: o.concurrency, mode: weighted ? 'weighted' : 'strict', weights } }],
    ['labels', [...new Set([...o.labels, 'sidekiq-lambda'])]],
    ['identity', o.identity],
    ['version', o.version],
    ['embedded', false],
  ]);
}

/** A work-hash value: `{"queue","payload":"<raw job as a string>","run_at":<int s>}`. */
export function workJson(w: WorkEntry): string {
  return JSON.stringify({ queue: w.queue, payload: w.payload, run_at: Math.floor(w.runAt / 1000) });
}

/**
 * Registers and refreshes this process in Redis.
 *
 * @example
 * const hb = new Heartbeat({ redis, keys: keys(), identity: makeIdentity(), tag: '', labels: [],
 *   concurrency: 100, queues: [{ name: 'default', weight: 0 }], version: 'sidekiq-lambda/0.1.0',
 *   source: poller, stats, onSignal: (s) => poller.signal(s) });
 * await hb.start();
 */
export class Heartbeat {
  private readonly o: HeartbeatOptions;
  private readonly startedAt: EpochMs;
  private readonly hostname: string;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private stopped = false;

  constructor(opts: HeartbeatOptions) {
    this.o = opts;
    this.startedAt = (opts.now ?? Date.now)();
    this.hostname = opts.identity.split(':')[0] || osHostname();
  }

  get identity(): string {
    return this.o.identity;
  }

  /** Beats now, then every interval. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.safeBeat();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.safeBeat().then(() => this.schedule());
    }, this.o.intervalMs ?? 5000);
  }

  private async safeBeat(): Promise<void> {
    this.beating = this.beat().catch((e: Error) => this.o.log?.({ level: 'warn', msg: 'heartbeat failed', error: e.message }));
    await this.beating;
    this.beating = undefined;
  }

  /** One heartbeat (§6.2). */
  async beat(): Promise<void> {
    const { redis, keys, identity: id, source, stats } = this.o;
    const now = (this.o.now ?? Date.now)();
    try {
      await stats.flush(redis, keys, now);
    } catch (e) {
      this.o.log?.({ level: 'warn', msg: 'heartbeat: stats flush failed; counts kept for the next beat', error: (e as Error).message });
    }
    const fields: string[] = [];
    for (const w of source.work()) fields.push(w.tid, workJson(w));
    const work = redis.multi().unlink(keys.work(id), keys.workers(id));
    if (fields.length > 0) {
      work.hset(keys.work(id), ...fields).expire(keys.work(id), (this.o.ttlSeconds ?? PROCESS_TTL_SECONDS));
      work.hset(keys.workers(id), ...fields).expire(keys.workers(id), (this.o.ttlSeconds ?? PROCESS_TTL_SECONDS));
    }
    await work.exec();

    const t0 = process.hrtime.bigint();
    await redis.ping();
    const rttUs = Number((process.hrtime.bigint() - t0) / 1000n);

    const res = await redis
      .multi()
      .sadd(keys.processes, id)
      .exists(keys.process(id))
      .hset(keys.process(id), {
        info: infoJson(this.o, this.startedAt, this.hostname),
        concurrency: String(this.o.concurrency),
        busy: String(source.busy()),
        beat: floatSeconds(now),
        rtt_us: String(rttUs),
        quiet: source.quiet() ? 'true' : 'false',
        rss: String(rssKb()),
      })
      .expire(keys.process(id), (this.o.ttlSeconds ?? PROCESS_TTL_SECONDS))
      .rpop(keys.signals(id))
      .exec();
    const sig = res?.[4]?.[1];
    if (typeof sig === 'string') this.deliver(sig);
  }

  private deliver(sig: string): void {
    if (sig === 'TSTP' || sig === 'TERM' || sig === 'TTIN') {
      this.o.log?.({ level: 'info', msg: `heartbeat: received ${sig} from the Web UI/API` });
      this.o.onSignal(sig);
    } else {
      this.o.log?.({ level: 'warn', msg: 'heartbeat: ignored an unknown signal', signal: sig });
    }
  }

  /** Stops beating; flushes the stats, leaves `processes`, deletes the work hashes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.beating;
    const { redis, keys, identity: id, stats } = this.o;
    try {
      await stats.flush(redis, keys, (this.o.now ?? Date.now)());
    } catch (e) {
      this.o.log?.({ level: 'warn', msg: 'heartbeat: final stats flush failed', error: (e as Error).message });
    }
    await redis.pipeline().srem(keys.processes, id).unlink(keys.work(id), keys.workers(id)).exec();
  }
}
