/**
 * Operator operations over Redis, in the spirit of `Sidekiq::API` (sidekiq-protocol.md §7.2–§7.4).
 *
 * Tasks:
 * 1. `stats` / `queueList`: processed, failed, success rate, each queue's size and latency (from the
 *    oldest job's `enqueued_at`, float s or int ms), scheduled / retry / dead sizes, live processes.
 * 2. `findJob`: where a jid is — a queue, `schedule`, `retry`, `dead` — with its exact payload.
 * 3. `cancelJob`, `retryJob`, `retryAll`, `killJob`, `clearQueue`: the Web UI's actions. Entries are
 *    matched by their exact bytes and moved with the scheduler's atomic script, so an action racing
 *    the scheduler (or Sidekiq's) moves each job once. A re-push keeps the jid, sets a fresh
 *    `enqueued_at` and, as Sidekiq's "Retry Now", decrements `retry_count` when present.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { readJob, withFields } from '../protocol/job.js';
import { readTimestamp, writeTimestamp, type EpochMs, type SidekiqVersion } from '../protocol/time.js';
import { registerScripts } from '../redis/scripts.js';
import { promoteArgs, type PlannedMove } from './scheduled.js';

export interface ApiContext {
  readonly redis: Redis;
  readonly keys: Keys;
  /** The format of a re-pushed job's `enqueued_at`. @defaultValue 7 */
  readonly version?: SidekiqVersion;
  /** @defaultValue Date.now */
  readonly now?: () => EpochMs;
  /** Called as long operations advance (`done` of `total`). */
  readonly progress?: (done: number, total: number) => void;
}

export interface QueueInfo {
  name: string;
  size: number;
  /** Seconds since the oldest job was enqueued; 0 when empty. */
  latency: number;
}

export interface StatsReport {
  processed: number;
  failed: number;
  /** Percent of processed jobs that did not fail; null before any job ran. */
  successRate: number | null;
  queues: QueueInfo[];
  enqueued: number;
  scheduled: number;
  retries: number;
  dead: number;
  processes: number;
  busy: number;
}

export type SortedSetName = 'schedule' | 'retry' | 'dead';

/** Where a job was found. */
export type JobLocation =
  | { where: 'queue'; queue: string; payload: string }
  | { where: SortedSetName; score: number; payload: string };

const now = (ctx: ApiContext): EpochMs => (ctx.now ?? Date.now)();
const CHUNK = 1000;
/** A `now` later than any score, so the move script treats every member as due. */
const ALWAYS_DUE = '1e300';

/** Seconds since the job at the tail (the next to run) was enqueued. */
export function latencyOf(tail: string | null, at: EpochMs): number {
  if (!tail) return 0;
  try {
    const job = JSON.parse(tail) as Record<string, unknown>;
    const t = readTimestamp(job.enqueued_at) ?? readTimestamp(job.created_at);
    return t === undefined ? 0 : Math.max(0, (at - t) / 1000);
  } catch {
    return 0;
  }
}

/** Size and latency of the named queues, in one pipeline (as Sidekiq's `Queue#size` / `#latency`). */
export async function queueInfo(redis: Redis, keys: Keys, names: readonly string[], at: EpochMs): Promise<QueueInfo[]> {
  if (names.length === 0) return [];
  const p = redis.pipeline();
  for (const q of names) p.llen(keys.queue(q)).lindex(keys.queue(q), -1);
  const res = (await p.exec()) ?? [];
  return names.map((name, i) => ({
    name,
    size: Number(res[2 * i]?.[1] ?? 0),
    latency: latencyOf((res[2 * i + 1]?.[1] as string | null) ?? null, at),
  }));
}

/** Every queue in `queues`, sorted, with size and latency. */
export async function queueList(ctx: ApiContext): Promise<QueueInfo[]> {
  const names = (await ctx.redis.smembers(ctx.keys.queues)).sort();
  return queueInfo(ctx.redis, ctx.keys, names, now(ctx));
}

/** The dashboard's figures. Processes count only members whose hash still exists (live). */
export async function stats(ctx: ApiContext): Promise<StatsReport> {
  const { redis, keys } = ctx;
  const [processed, failed, scheduled, retries, dead, members] = await Promise.all([
    redis.get(keys.statProcessed),
    redis.get(keys.statFailed),
    redis.zcard(keys.schedule),
    redis.zcard(keys.retry),
    redis.zcard(keys.dead),
    redis.smembers(keys.processes),
  ]);
  let processes = 0;
  let busy = 0;
  if (members.length > 0) {
    const p = redis.pipeline();
    for (const id of members) p.hmget(keys.process(id), 'info', 'busy');
    for (const [, v] of (await p.exec()) ?? []) {
      const [info, b] = (v as (string | null)[]) ?? [];
      if (!info) continue;
      processes++;
      busy += Number(b ?? 0) || 0;
    }
  }
  const queues = await queueList(ctx);
  const pr = Number(processed ?? 0);
  const fa = Number(failed ?? 0);
  return {
    processed: pr,
    failed: fa,
    successRate: pr > 0 ? Math.round(((pr - fa) / pr) * 10000) / 100 : null,
    queues,
    enqueued: queues.reduce((s, q) => s + q.size, 0),
    scheduled,
    retries,
    dead,
    processes,
    busy,
  };
}

function hasJid(raw: string, jid: string): boolean {
  if (!raw.includes(jid)) return false;
  const r = readJob(raw);
  return !('reason' in r) && r.job.jid === jid;
}

/** Every place a jid is found: each queue (scanned in chunks), then `schedule`, `retry`, `dead`. */
export async function findJob(ctx: ApiContext, jid: string): Promise<JobLocation[]> {
  const { redis, keys } = ctx;
  const found: JobLocation[] = [];
  const names = (await redis.smembers(keys.queues)).sort();
  const sizes = await Promise.all(names.map((q) => redis.llen(keys.queue(q))));
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  for (const q of names) {
    for (let start = 0; ; start += CHUNK) {
      const chunk = await redis.lrange(keys.queue(q), start, start + CHUNK - 1);
      for (const raw of chunk) if (hasJid(raw, jid)) found.push({ where: 'queue', queue: q, payload: raw });
      done += chunk.length;
      if (total > CHUNK) ctx.progress?.(Math.min(done, total), total);
      if (chunk.length < CHUNK) break;
    }
  }
  for (const set of ['schedule', 'retry', 'dead'] as const) {
    let cursor = '0';
    do {
      const [next, flat] = await redis.zscan(keys[set], cursor, 'MATCH', `*${escapeGlob(jid)}*`, 'COUNT', 1000);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        if (hasJid(flat[i]!, jid)) found.push({ where: set, score: Number(flat[i + 1]), payload: flat[i]! });
      }
    } while (cursor !== '0');
  }
  return found;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** Removes a queued, scheduled or retry job by its exact bytes. Returns what was removed. */
export async function cancelJob(ctx: ApiContext, jid: string): Promise<JobLocation[]> {
  const { redis, keys } = ctx;
  const removed: JobLocation[] = [];
  for (const loc of await findJob(ctx, jid)) {
    if (loc.where === 'dead') continue;
    const n = loc.where === 'queue' ? await redis.lrem(keys.queue(loc.queue), 1, loc.payload) : await redis.zrem(keys[loc.where], loc.payload);
    if (n > 0) removed.push(loc);
  }
  return removed;
}

/** The payload Sidekiq's "Retry Now" pushes: `retry_count - 1` when present, a fresh `enqueued_at`. */
export function retryPayload(raw: string, at: EpochMs, version: SidekiqVersion): PlannedMove | undefined {
  const r = readJob(raw);
  if ('reason' in r) return undefined;
  const fields: Record<string, unknown> = { enqueued_at: writeTimestamp(at, version) };
  if (typeof r.job.retry_count === 'number') fields.retry_count = r.job.retry_count - 1;
  return { member: raw, queue: r.job.queue ?? 'default', payload: withFields(raw, fields) };
}

/** Moves planned members out of `set` atomically, each at most once; the script's status per member. */
async function move(ctx: ApiContext, set: string, plans: PlannedMove[]): Promise<number[]> {
  if (plans.length === 0) return [];
  registerScripts(ctx.redis);
  const args = promoteArgs(ctx.keys, plans, now(ctx), set, ALWAYS_DUE);
  return ctx.redis.sklPromote_v3(...(args as [number, ...(string | number)[]]));
}

const movedCount = (statuses: number[]): number => statuses.filter((s) => s === 1 || s === 2).length;

/** Puts a job from `retry` (or else `dead`) back on its queue. Returns the locations it left. */
export async function retryJob(ctx: ApiContext, jid: string): Promise<JobLocation[]> {
  const done: JobLocation[] = [];
  const locs = (await findJob(ctx, jid)).filter((l) => l.where === 'retry' || l.where === 'dead');
  for (const loc of locs) {
    const plan = retryPayload(loc.payload, now(ctx), ctx.version ?? 7);
    if (!plan) throw new Error(`the ${loc.where} entry of ${jid} is not a readable job; delete it instead`);
    if (movedCount(await move(ctx, ctx.keys[loc.where as 'retry' | 'dead'], [plan])) > 0) done.push(loc);
  }
  return done;
}

/** Puts every job of `retry` or `dead` back on its queue, in batches. Unreadable entries stay. */
export async function retryAll(ctx: ApiContext, set: 'retry' | 'dead'): Promise<{ moved: number; skipped: number }> {
  const key = ctx.keys[set];
  const total = await ctx.redis.zcard(key);
  let moved = 0;
  let skipped = 0;
  for (;;) {
    const members = await ctx.redis.zrange(key, skipped, skipped + CHUNK - 1);
    if (members.length === 0) break;
    const plans: PlannedMove[] = [];
    for (const m of members) {
      const p = retryPayload(m, now(ctx), ctx.version ?? 7);
      if (p) plans.push(p);
      else skipped++;
    }
    const statuses = await move(ctx, key, plans);
    moved += movedCount(statuses);
    // Status 3 (the queue key holds another type) sends the entry to `dead`: from `dead` it stays,
    // so step over it rather than loop on it.
    if (set === 'dead') skipped += statuses.filter((s) => s === 3).length;
    ctx.progress?.(Math.min(moved + skipped, total), total);
  }
  return { moved, skipped };
}

/** Moves a job from `retry` or `schedule` to the dead set (trimmed as Sidekiq trims it). */
export async function killJob(ctx: ApiContext, jid: string): Promise<JobLocation[]> {
  const done: JobLocation[] = [];
  for (const loc of await findJob(ctx, jid)) {
    if (loc.where !== 'retry' && loc.where !== 'schedule') continue;
    if (movedCount(await move(ctx, ctx.keys[loc.where], [{ member: loc.payload, queue: undefined, payload: loc.payload }])) > 0) done.push(loc);
  }
  return done;
}

/** Deletes a queue as the Web UI does: `MULTI; UNLINK queue:<q>; SREM queues <q>; EXEC`. Returns its size before. */
export async function clearQueue(ctx: ApiContext, queue: string): Promise<number> {
  const res = await ctx.redis.multi().llen(ctx.keys.queue(queue)).unlink(ctx.keys.queue(queue)).srem(ctx.keys.queues, queue).exec();
  return Number(res?.[0]?.[1] ?? 0);
}
