/**
 * The scheduler: promotes due jobs from `retry` and `schedule` to their queues
 * (sidekiq-protocol.md §7.1), faster than Sidekiq's `Scheduled::Enq` and without its lost-job gap.
 *
 * Tasks:
 * 1. `promoteDue`: for `retry`, then `schedule` (Sidekiq's order), read a batch of due members,
 *    rewrite each one's `enqueued_at` client-side (byte-preserving `withFields`; never cjson), and
 *    move the batch with one script call in which each job moves atomically and at most once.
 * 2. Payloads that cannot be read go to the dead set with the reason, never dropped, never blocking.
 * 3. `runScheduler`: the loop the scheduler Lambda and dev mode run — promote every `intervalMs`
 *    until told to stop, one runner at a time (a Redis lock with a TTL, released at the end) —
 *    and, given a cron poller (lib/sidekiq/cron-poller.ts), fire due periodic jobs each round.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { DEAD_MAX_JOBS, DEAD_TIMEOUT_SECONDS } from './retry.js';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { registerScripts } from '../redis/scripts.js';
import type { Keys } from '../protocol/keys.js';
import { readJob, withFields } from '../protocol/job.js';
import { score, writeTimestamp, type EpochMs, type SidekiqVersion } from '../protocol/time.js';

/** The error class written into unreadable JSON-object payloads sent to the dead set. */
export const INVALID_JOB_ERROR = 'SidekiqLambda::InvalidJob';

export interface PromoteOptions {
  readonly redis: Redis;
  readonly keys: Keys;
  /** The oldest Sidekiq reading this Redis: the format of `enqueued_at`. @defaultValue 7 */
  readonly version?: SidekiqVersion;
  /** @defaultValue 1000 — jobs read and moved per round trip pair. */
  readonly batchSize?: number;
  /** @defaultValue Date.now */
  readonly now?: () => EpochMs;
  readonly log?: Logger;
  /** Checked between batches: a huge backlog cannot hold a Lambda past its deadline. */
  readonly shouldStop?: () => boolean;
}

export interface PromoteResult {
  /** Jobs this promoter pushed to a queue. */
  promoted: number;
  /** Jobs this promoter moved to the dead set (unreadable payload or a queue key of another type). */
  dead: number;
  /** Due jobs another promoter moved first (or that were rescheduled meanwhile). */
  lost: number;
  /** Promoted jobs per queue. */
  byQueue: Record<string, number>;
}

/** One member's plan: where it goes and with which bytes. */
export interface PlannedMove {
  readonly member: string;
  /** The destination queue, or undefined for the dead set. */
  readonly queue: string | undefined;
  readonly payload: string;
  /** Why it goes to the dead set. */
  readonly reason?: string;
}

/**
 * Decides, without Redis, what becomes of one due member: its queue (the `queue` field — a retry
 * entry's `queue` already holds `retry_queue`, written when the retry was, as Sidekiq's
 * `job_retry.rb` does) with a fresh `enqueued_at` and every other byte unchanged; or, if it cannot
 * be read, the dead set with the reason in `error_message` (a JSON object) or as it is (not one).
 *
 * @example
 * planMove('{"class":"A","args":[],"queue":"low"}', 1795334852000, 7)
 * // { queue: 'low', payload: '{"class":"A","args":[],"queue":"low","enqueued_at":1795334852.0}' }
 */
export function planMove(member: string, nowMs: EpochMs, version: SidekiqVersion): PlannedMove {
  const r = readJob(member);
  if ('reason' in r) return { member, queue: undefined, payload: deadPayload(member, r.reason), reason: r.reason };
  try {
    const at = writeTimestamp(nowMs, version);
    // Scheduled jobs carry no top-level `enqueued_at` (Sidekiq pushes them without one): append it
    // before the closing brace, as Ruby's Hash#[]= + JSON.generate would, touching no other byte.
    // Only a payload that has one (a retry) needs the field-by-field rewrite.
    const end = member.lastIndexOf('}');
    const payload = !('enqueued_at' in r.job) && end > 0 ? `${member.slice(0, end)},"enqueued_at":${at.text}${member.slice(end)}` : withFields(member, { enqueued_at: at });
    // Client.push's default queue; the payload is left without the field (bytes untouched).
    return { member, queue: r.job.queue ?? 'default', payload };
  } catch (e) {
    const reason = `unreadable payload: ${(e as Error).message}`;
    return { member, queue: undefined, payload: member, reason };
  }
}

function deadPayload(raw: string, reason: string): string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return raw; // Not JSON: kept byte for byte, as Sidekiq kills unparseable jobs.
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return raw;
  try {
    return withFields(raw, { error_class: INVALID_JOB_ERROR, error_message: `sidekiq-lambda scheduler: ${reason}` });
  } catch {
    return raw;
  }
}

/**
 * Builds the `sklPromote_v3` arguments for one batch. `dueBy` (float seconds) is the latest score
 * still moved; the API passes a far-future one to move an entry before its time ("Retry Now").
 */
export function promoteArgs(keys: Keys, plans: readonly PlannedMove[], nowMs: EpochMs, set: string, dueBy: string = score(nowMs)): (string | number)[] {
  const queueIndex = new Map<string, number>();
  for (const p of plans) if (p.queue !== undefined && !queueIndex.has(p.queue)) queueIndex.set(p.queue, queueIndex.size + 1);
  const names = [...queueIndex.keys()];
  const now = score(nowMs);
  const args: (string | number)[] = [3 + names.length, set, keys.queues, keys.dead, ...names.map((q) => keys.queue(q))];
  args.push(dueBy, now, score(nowMs - DEAD_TIMEOUT_SECONDS * 1000), DEAD_MAX_JOBS, names.length, ...names);
  for (const p of plans) args.push(p.member, p.queue === undefined ? 0 : queueIndex.get(p.queue)!, p.payload);
  return args;
}

/**
 * Promotes every job due now from `retry`, then `schedule`. Returns what this promoter moved.
 *
 * @example
 * const r = await promoteDue({ redis, keys: keys(), version: 7 });
 * console.log(`${r.promoted} promoted, ${r.dead} to the dead set`);
 */
export async function promoteDue(opts: PromoteOptions): Promise<PromoteResult> {
  const { redis, keys } = opts;
  registerScripts(redis);
  const version = opts.version ?? 7;
  const batch = opts.batchSize ?? 1000;
  const now = opts.now ?? Date.now;
  const result: PromoteResult = { promoted: 0, dead: 0, lost: 0, byQueue: {} };
  for (const set of [keys.retry, keys.schedule]) {
    // Why this loop is safe with any number of promoters (ours, and Sidekiq's Enq) at once:
    // - A read (ZRANGEBYSCORE) takes nothing; two promoters may read and rewrite the same members.
    // - The move is one script: for the batch, ZMSCORE (each member still there and still due?),
    //   then ZREM and LPUSH of exactly those — one atomic step. Only the caller that finds a member
    //   still there pushes it; Sidekiq's pop is an atomic script too, so exactly one of us removes
    //   each job.
    // - Nothing is written between the ZREM and the LPUSH, so a crash cannot lose a job (Sidekiq's
    //   Enq can: it pops, then pushes in a second round trip). A crash before the script leaves
    //   the members in place for the next round.
    // - To keep Redis and this process both busy, the next batch is read ahead (at offset `batch`,
    //   behind the batch being moved) and rewritten while the script runs. A read-ahead member that
    //   someone else moved meanwhile is simply not found by the script; one skipped because the set
    //   shifted under the offset is found by the fresh read from offset 0 that ends the round: the
    //   round ends only when that read finds nothing due.
    const read = (offset: number): Promise<string[]> => handled(redis.zrangebyscore(set, '-inf', score(now()), 'LIMIT', offset, batch));
    const plan = (members: string[]): { plans: PlannedMove[]; at: EpochMs } => {
      const at = now();
      return { plans: members.map((m) => planMove(m, at, version)), at };
    };
    let current = plan(await read(0));
    let ahead = read(batch);
    while (current.plans.length > 0) {
      const moving = handled(redis.sklPromote_v3(...(promoteArgs(keys, current.plans, current.at, set) as [number, ...(string | number)[]])));
      const after = read(batch); // runs after the script: the batch behind the next one
      const next = plan(await ahead); // rewritten while Redis runs the script
      tally(result, current.plans, await moving, set, opts.log);
      current = next;
      ahead = after;
      if (current.plans.length === 0 && !opts.shouldStop?.()) {
        await after;
        current = plan(await read(0));
        ahead = read(batch);
      }
      if (opts.shouldStop?.()) break;
    }
    await ahead;
  }
  return result;
}

/** Marks a promise handled (it still rejects when awaited), so a failed round cannot leave an unhandled rejection behind. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function tally(result: PromoteResult, plans: readonly PlannedMove[], statuses: number[], set: string, log?: Logger): void {
  plans.forEach((p, i) => {
    const s = statuses[i];
    if (s === 1 && p.queue !== undefined) {
      result.promoted++;
      result.byQueue[p.queue] = (result.byQueue[p.queue] ?? 0) + 1;
    } else if (s === 2 || s === 3) {
      result.dead++;
      const reason = s === 3 ? `queue:${p.queue} holds a value that is not a list` : p.reason;
      log?.error('scheduler: moved an unreadable job to the dead set', { set, reason, bytes: p.member.length });
    } else result.lost++;
  });
}

export interface SchedulerOptions extends PromoteOptions {
  /** @defaultValue 1000 — ms between promotion rounds. */
  readonly intervalMs?: number;
    /** Stop at this epoch-ms time (e.g. a Lambda's end minus a margin). */
  readonly deadline?: EpochMs;
  /** @defaultValue true — take `keys.schedulerLock` so only one scheduler runs at a time. */
  readonly lock?: boolean;
  /** @defaultValue 30000 — the lock's TTL, renewed every round; a crashed holder frees it after this. */
  readonly lockTtlMs?: number;
  /** Fires due periodic jobs each round (a `CronPoller`). @defaultValue none */
  readonly cron?: { tick(): Promise<{ fired: number }> };
}

export interface SchedulerSummary extends PromoteResult {
  /** Promotion rounds run while holding the lock. */
  rounds: number;
  /** False when the lock was never acquired (another scheduler ran throughout). */
  ranAsLeader: boolean;
  /** Periodic jobs this scheduler enqueued. */
  cronFired: number;
}


/**
 * Promotes due jobs every `intervalMs` until `shouldStop()` or `deadline`. With `lock`, waits for
 * the scheduler lock (a previous runner may still be finishing) and holds it while it runs.
 *
 * @example
 * // In a Lambda invoked every minute: stop 2 s before the timeout.
 * await runScheduler({ redis, keys: keys(), deadline: Date.now() + context.getRemainingTimeInMillis() - 2000 });
 */
export async function runScheduler(opts: SchedulerOptions): Promise<SchedulerSummary> {
  const { redis, keys } = opts;
  registerScripts(redis);
  const interval = opts.intervalMs ?? 1000;
  const ttl = opts.lockTtlMs ?? 30_000;
  const useLock = opts.lock ?? true;
  const token = randomBytes(12).toString('hex');
  const stop = (): boolean => (opts.shouldStop?.() ?? false) || (opts.deadline !== undefined && Date.now() >= opts.deadline);
  const summary: SchedulerSummary = { promoted: 0, dead: 0, lost: 0, byQueue: {}, rounds: 0, ranAsLeader: false, cronFired: 0 };
  let held = false;
  try {
    while (!stop()) {
      const started = Date.now();
      try {
        held = !useLock || (held ? (await redis.sklPromoteLock_v1(keys.schedulerLock, 'renew', token, ttl)) === 1 : (await redis.set(keys.schedulerLock, token, 'PX', ttl, 'NX')) === 'OK');
        if (held) {
          summary.ranAsLeader = true;
          const r = await promoteDue({ ...opts, shouldStop: stop });
          summary.rounds++;
          merge(summary, r);
          if (r.promoted + r.dead > 0) opts.log?.info('scheduler: promoted', { ...r });
        }
      } catch (e) {
        // A failed round (Redis restarting, a timeout) is logged; the next round tries again.
        opts.log?.error('scheduler: promotion round failed', { error: (e as Error).message });
      }
      if (held && opts.cron) {
        try {
          summary.cronFired += (await opts.cron.tick()).fired;
        } catch (e) {
          opts.log?.error('scheduler: cron round failed', { error: (e as Error).message });
        }
      }
      await waitUntil(started + interval, stop);
    }
  } finally {
    if (held && useLock) await redis.sklPromoteLock_v1(keys.schedulerLock, 'release', token, 0).catch(() => undefined);
  }
  return summary;
}

function merge(into: PromoteResult, r: PromoteResult): void {
  into.promoted += r.promoted;
  into.dead += r.dead;
  into.lost += r.lost;
  for (const [q, n] of Object.entries(r.byQueue)) into.byQueue[q] = (into.byQueue[q] ?? 0) + n;
}

async function waitUntil(at: EpochMs, stop: () => boolean): Promise<void> {
  for (let left = at - Date.now(); left > 0 && !stop(); left = at - Date.now()) await sleep(Math.min(left, 100));
}
