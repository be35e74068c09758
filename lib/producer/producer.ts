/**
 * The producer's core, byte-compatible with `Sidekiq::Client` (sidekiq-protocol.md §4), apart from
 * where the jobs go: Redis (`Client`), or the answer of the job that enqueued them (`Collector`,
 * written by the poller with that job's success).
 *
 * Tasks:
 * 1. `push` / `pushBulk`: validate, normalise (defaults under the item, a jid, `created_at`), and
 *    render immediate jobs for their queue and future ones for `schedule` (`at` removed).
 * 2. `performAsync` / `performIn` / `performAt` with Sidekiq's rules: a number under 1e9 is an
 *    interval, otherwise an epoch; a time not in the future means now.
 * 3. Run every job through the producer middleware chain first (middleware.ts): it may change the
 *    job or stop its push (`null` in place of its jid).
 * 4. Hand what it rendered to `write`, a batch at a time: the one thing a kind of producer decides.
 *
 * Opens no connection and imports no Redis client: a job function's bundle stays small.
 */
import { randomBytes } from 'node:crypto';
import { writeObject } from '../protocol/json.js';
import { DEFAULT_SIDEKIQ_VERSION, writeTimestamp, type EpochMs, type SidekiqVersion } from '../protocol/time.js';
import { JobValidationError, generateJid, hasLoneSurrogate, validateArgs, validateClass, validateJid, validateQueue, validateRetry } from '../protocol/validate.js';
import type { RetryOption } from '../protocol/job.js';
import type { Enqueue } from '../protocol/event.js';
import { producerMiddleware, type OutgoingJob } from './middleware.js';

/** Options Sidekiq reads from a job; anything else passes through as a custom top-level key. */
export interface JobOptions {
  /** @defaultValue 'default' */
  queue?: string;
  /** @defaultValue true — 25 retries; a number: that many; false: no retry, no dead set. */
  retry?: RetryOption;
  retry_queue?: string;
  /** Seconds (Sidekiq 7.1.3+): stop retrying this long after the first failure. */
  retry_for?: number;
  backtrace?: boolean | number;
  dead?: boolean;
  tags?: string[];
  [custom: string]: unknown;
}

/** One job for {@link Producer.push}. */
export interface PushItem extends JobOptions {
  class: string;
  args: unknown[];
  jid?: string;
  /** Run at this time (epoch seconds, or a Date). `push` always schedules it, even in the past, as Sidekiq does. */
  at?: number | Date;
}

/** Many jobs of one class for {@link Producer.pushBulk}. */
export interface BulkItem extends JobOptions {
  class: string;
  args: unknown[][];
  /** One time for all, or one per job (epoch seconds or Dates). */
  at?: number | Date | (number | Date)[];
  /** @defaultValue 1000 — jobs per Redis round trip. */
  batchSize?: number;
}

/**
 * Where a routed class's job goes: the options to render it with for the jid it will have (the
 * same object when the job stays where its options say).
 */
export type Placement = <T extends JobOptions & { class: string; wrapped?: unknown }>(item: T, jid: string) => T;

export interface ProducerOptions {
  /** The oldest Sidekiq that reads this Redis; 8 writes integer-ms timestamps. @defaultValue 7 */
  sidekiqVersion?: SidekiqVersion;
  /** Injected clock, for tests. @defaultValue Date.now */
  now?: () => EpochMs;
}

/** A job's payload text with its options rendered; `render` adds one job's args and jid. */
interface PayloadTemplate {
  readonly queue: string;
  render(args: unknown[], jid: string): string;
}

const STANDARD = new Set(['class', 'args', 'jid', 'at', 'queue', 'retry', 'batchSize', 'created_at', 'enqueued_at']);
/** `perform_in`/`perform_at`: numbers below this are intervals in seconds (Sidekiq's rule). */
const INTERVAL_LIMIT = 1_000_000_000;

function toEpochMs(at: number | Date, path: string): EpochMs {
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at * 1000 : NaN;
  if (!Number.isFinite(ms)) throw new JobValidationError(path, 'must be epoch seconds or a Date');
  return ms;
}

/**
 * Renders Sidekiq jobs and hands them to {@link Producer.write}.
 *
 * @example
 * class Printer extends Producer { protected async write(w: readonly Enqueue[]) { console.log(w); } }
 * await new Printer().performAsync('HardJob', 1, 2);
 */
export abstract class Producer {
  readonly version: SidekiqVersion;
  /** The clock (injectable for tests). */
  readonly now: () => EpochMs;

  constructor(opts: ProducerOptions = {}) {
    this.version = opts.sidekiqVersion ?? DEFAULT_SIDEKIQ_VERSION;
    this.now = opts.now ?? Date.now;
  }

  /** Stores rendered jobs: immediate ones for their queue, future ones for `schedule`. */
  protected abstract write(writes: readonly Enqueue[]): Promise<void>;

  /** How jobs of `item`'s class are placed (routing), or undefined when they go where their options say. */
  protected async placement(_item: { class: string; wrapped?: unknown }): Promise<Placement | undefined> {
    return undefined;
  }

  /**
   * Enqueues a payload rendered elsewhere, byte for byte (for one that must keep its exact
   * spelling, such as arguments echoed as they came).
   *
   * @example await producer.enqueueRaw({ queue: 'echo_replies', payload: json });
   */
  async enqueueRaw(write: Enqueue): Promise<void> {
    await this.write([write]);
  }

  /**
   * Validates a job's options once and returns its payload text around `args` and `jid`: defaults,
   * the caller's options, class | args, jid | timestamps (Ruby's key order). Shared by `push` and
   * `pushBulk`, so both write the same bytes; a bulk push renders each job with two concatenations.
   */
  private template(item: JobOptions & { class: string }, createdAt: EpochMs, enqueuedAt?: EpochMs): PayloadTemplate {
    const cls = validateClass(item.class);
    const queue = validateQueue(item.queue ?? 'default');
    const retry = validateRetry(item.retry ?? true);
    if (item.tags !== undefined && !(Array.isArray(item.tags) && item.tags.every((t) => typeof t === 'string'))) {
      throw new JobValidationError('tags', 'must be an array of strings');
    }
    if (item.retry_for !== undefined && !(Number.isInteger(item.retry_for) && item.retry_for >= 0 && item.retry_for <= 1e9)) {
      throw new JobValidationError('retry_for', 'must be whole seconds from 0 to 1,000,000,000');
    }
    const custom: [string, unknown][] = [];
    for (const [k, v] of Object.entries(item)) {
      if (STANDARD.has(k) || v === undefined) continue;
      if (hasLoneSurrogate(k)) throw new JobValidationError(k, "option key contains a lone UTF-16 surrogate, which Ruby's JSON parser rejects");
      validateJsonOption(k, v);
      custom.push([k, v]);
    }
    const head = writeObject([['retry', retry], ['queue', queue], ...custom, ['class', cls]]).slice(0, -1) + ',"args":';
    const created = writeTimestamp(createdAt, this.version).text;
    const enqueued = enqueuedAt === undefined ? '' : `,"enqueued_at":${writeTimestamp(enqueuedAt, this.version).text}`;
    const tail = `","created_at":${created}${enqueued}}`;
    // `args` is validated JSON-native and `jid` is 24 hex characters, so neither needs more escaping.
    return { queue, render: (args, jid) => `${head}${JSON.stringify(args)},"jid":"${jid}${tail}` };
  }

  /** One job's payload text (see {@link Producer.template}). */
  private payload(item: JobOptions & { class: string; args: unknown[]; jid?: string }, createdAt: EpochMs, enqueuedAt?: EpochMs): { json: string; jid: string; queue: string } {
    const { args, jid: given, ...options } = item;
    const tpl = this.template(options, createdAt, enqueuedAt);
    validateArgs(args);
    const jid = given === undefined ? generateJid() : validateJid(given);
    return { json: tpl.render(args, jid), jid, queue: tpl.queue };
  }

  /**
   * Pushes one job. With `at`, it goes to the `schedule` set (even if `at` is past, as
   * `Sidekiq::Client.push` does); otherwise to its queue. Returns the jid, or `null` when a
   * producer middleware stopped the push (Sidekiq's `push` returning nil).
   */
  async push(item: PushItem): Promise<string | null> {
    if (producerMiddleware.size > 0) {
      const job = this.outgoing(item, item.jid ?? generateJid(), item.at);
      if (!(await producerMiddleware.run(job, this))) return null;
      await this.write([await this.rendered(job, this.now())]);
      return job.jid;
    }
    const { at, ...given } = item;
    const place = await this.placement(given);
    let rest = given;
    if (place) {
      const jid = given.jid ?? generateJid(); // fixed now: where the job goes may depend on it
      rest = place({ ...given, jid }, jid);
    }
    const now = this.now();
    if (at !== undefined) {
      const when = toEpochMs(at, 'at');
      const p = this.payload(rest, now);
      await this.write([{ at: when, payload: p.json }]);
      return p.jid;
    }
    const p = this.payload(rest, now, now);
    await this.write([{ queue: p.queue, payload: p.json }]);
    return p.jid;
  }

  /** The job a producer middleware sees: the item with its jid, queue and retry resolved, `at` in epoch seconds. */
  private outgoing(item: JobOptions & { class: string; args: unknown[] }, jid: string, at: number | Date | undefined): OutgoingJob {
    const { at: _drop, batchSize: _size, ...rest } = item as typeof item & { at?: unknown; batchSize?: unknown };
    const job: OutgoingJob = { ...rest, class: validateClass(item.class), queue: item.queue ?? 'default', retry: item.retry ?? true, args: item.args, jid: validateJid(jid) };
    if (at !== undefined) job.at = toEpochMs(at, 'at') / 1000;
    return job;
  }

  /** What to write for a job the middleware let through: placed (routing), then rendered. */
  private async rendered(job: OutgoingJob, now: EpochMs): Promise<Enqueue> {
    const { at, ...rest } = job;
    const place = await this.placement(rest);
    const item = place ? place(rest, rest.jid) : rest;
    if (at !== undefined) return { at: toEpochMs(at, 'at'), payload: this.payload(item, now).json };
    const p = this.payload(item, now, now);
    return { queue: p.queue, payload: p.json };
  }

  /**
   * The bytes `push` would write for a job enqueued now, without writing them: for a caller that
   * pushes inside its own script (the cron scheduler claims a fire time and pushes in one step).
   *
   * @example
   * const { json, jid, queue } = client.render({ class: 'CleanupJob', queue: 'low', args: [] });
   */
  render(item: JobOptions & { class: string; args: unknown[]; jid?: string }): { json: string; jid: string; queue: string } {
    const now = this.now();
    return this.payload(item, now, now);
  }

  /**
   * Pushes many jobs of one class; each gets its own jid and all share one `created_at`.
   * One write (for Redis, one round trip) per `batchSize` jobs. Returns the jids in order, with
   * `null` for a job a producer middleware stopped (as Sidekiq's `push_bulk` has nil there).
   */
  async pushBulk(item: BulkItem): Promise<(string | null)[]> {
    const { args: list, at, batchSize = 1000, jid, ...rest } = item as BulkItem & { jid?: unknown };
    if (!Array.isArray(list)) throw new JobValidationError('args', 'must be an array of argument arrays');
    if (jid !== undefined) throw new JobValidationError('jid', 'cannot be given to pushBulk: every job gets its own');
    if (Array.isArray(at) && at.length !== list.length) {
      throw new JobValidationError('at', `has ${at.length} times for ${list.length} jobs; give one time or one per job`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new JobValidationError('batchSize', 'must be a positive integer');
    const now = this.now();
    const jids: (string | null)[] = [];
    const chained = producerMiddleware.size > 0;
    const place = chained ? undefined : await this.placement(rest);
    // Options are the same for every job: validate and render them once (lazily, so an empty
    // list is a no-op as in Sidekiq), then each job costs its args check and two concatenations.
    // A routed class has two variants: where its options say, and where the route sends it.
    const immediates = new Map<string, PayloadTemplate>();
    const scheduleds = new Map<string, PayloadTemplate>();
    for (let start = 0; start < list.length; start += batchSize) {
      const writes: Enqueue[] = [];
      const end = Math.min(start + batchSize, list.length);
      const random = randomBytes(12 * (end - start)).toString('hex'); // one call per batch, not per job
      for (let i = start; i < end; i++) {
        const args = list[i];
        if (!Array.isArray(args)) throw new JobValidationError(`args[${i}]`, 'must be an array of arguments');
        validateArgs(args, `args[${i}]`);
        const jid = random.slice(24 * (i - start), 24 * (i - start + 1));
        const atI = Array.isArray(at) ? at[i] : at;
        if (chained) {
          // Each job through the middleware on its own, rendered on its own (it may have changed).
          const job = this.outgoing({ ...rest, args }, jid, atI);
          const go = await producerMiddleware.run(job, this);
          if (go) writes.push(await this.rendered(job, now));
          jids.push(go ? job.jid : null);
          continue;
        }
        const options = place ? place(rest, jid) : rest;
        const variant = options === rest ? '' : 'routed';
        if (atI !== undefined) {
          let scheduled = scheduleds.get(variant);
          if (!scheduled) scheduleds.set(variant, (scheduled = this.template(options, now)));
          writes.push({ at: toEpochMs(atI, Array.isArray(at) ? `at[${i}]` : 'at'), payload: scheduled.render(args, jid) });
        } else {
          let immediate = immediates.get(variant);
          if (!immediate) immediates.set(variant, (immediate = this.template(options, now, now)));
          writes.push({ queue: immediate.queue, payload: immediate.render(args, jid) });
        }
        jids.push(jid);
      }
      if (writes.length > 0) await this.write(writes);
    }
    return jids;
  }

  /** `perform_async`: enqueue now. Resolves the jid, or `null` when a producer middleware stopped the push. */
  performAsync(cls: string, ...args: unknown[]): Promise<string | null> {
    return this.push({ class: cls, args });
  }

  /** `perform_in`: run after `interval` seconds (a number ≥ 1e9 is taken as an epoch, as Sidekiq does). */
  performIn(interval: number, cls: string, ...args: unknown[]): Promise<string | null> {
    return this.push(this.scheduled({ class: cls, args }, interval));
  }

  /** `perform_at`: run at a time (epoch seconds or a Date); a past time means now. */
  performAt(time: number | Date, cls: string, ...args: unknown[]): Promise<string | null> {
    return this.push(this.scheduled({ class: cls, args }, time));
  }

  /** Sidekiq's `Setter#at` rule: intervals below 1e9 s are relative; not in the future means now. */
  scheduled<T extends object>(item: T, when: number | Date): Omit<T, 'at'> & { at?: number } {
    const nowMs = this.now();
    const ms = when instanceof Date ? when.getTime() : when < INTERVAL_LIMIT ? nowMs + when * 1000 : when * 1000;
    if (!Number.isFinite(ms)) throw new JobValidationError('at', 'must be a number of seconds, epoch seconds or a Date');
    const { at: _drop, ...rest } = item as T & { at?: unknown };
    return ms <= nowMs ? rest : { ...rest, at: ms / 1000 };
  }
}

function validateJsonOption(key: string, value: unknown): void {
  try {
    validateArgs([value], key);
  } catch (e) {
    if (e instanceof JobValidationError) throw new JobValidationError(key + e.path.slice(key.length + 3), e.problem);
    throw e;
  }
}
