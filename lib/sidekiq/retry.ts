/**
 * Sidekiq's retry algorithm as pure functions (sidekiq-protocol.md §5.3, §5.4; Sidekiq `job_retry.rb`).
 *
 * Tasks:
 * 1. Decide what a failure means: a retry at a time, the dead set, or a discard — from `retry`
 *    (true = 25, N, false, 0), `retry_count`, `retry_for` (7.1.3+; exclusive in 8.1+), then, for a
 *    job with retries left, the handler's own request (discard / kill / retry in N seconds).
 * 2. Compute the delay, `count⁴ + 15` or the handler's, plus the jitter of the target version.
 * 3. Write the failed payload: `queue` (retry_queue or the popped queue), `error_message` (≤ 10,000
 *    characters as Ruby counts them), `error_class`, backtrace lines — all well-formed UTF-16 — `failed_at` or `retried_at`, `retry_count`, and `error_backtrace`
 *    when `backtrace` is set — every other byte of the payload unchanged.
 *
 * Randomness and time are injected, so tests assert exact values.
 */
import { deflateSync } from 'node:zlib';
import type { JobPayload } from '../protocol/job.js';
import { withFields } from '../protocol/job.js';
import { readTimestamp, writeTimestamp, type EpochMs, type SidekiqVersion } from '../protocol/time.js';
import type { FailureAction, JobError } from '../protocol/event.js';
import { errorMessage, wellFormed } from '../protocol/text.js';

/** `DEFAULT_MAX_RETRY_ATTEMPTS`: `retry: true` means this many retries. */
export const DEFAULT_MAX_RETRIES = 25;
/** The longest retry delay written: a century (a larger one would overflow a time). */
export const MAX_RETRY_DELAY_SECONDS = 100 * 365 * 24 * 3600;
/** Dead-set trimming: entries older than this (180 days) and beyond this many go. */
export const DEAD_TIMEOUT_SECONDS = 15_552_000;
export const DEAD_MAX_JOBS = 10_000;

/** What becomes of a failed job. */
export type RetryDecision =
  | { readonly kind: 'retry'; readonly at: EpochMs; readonly count: number; readonly delaySeconds: number }
  | { readonly kind: 'dead'; readonly count: number; readonly reason: 'exhausted' | 'killed' | 'retry_for' }
  | { readonly kind: 'discard'; readonly reason: 'retry: false' | 'discarded' | 'dead: false' };

/** `rand(n)`: an integer in [0, n). */
export type RandomInt = (n: number) => number;

export const defaultRandom: RandomInt = (n) => Math.floor(Math.random() * n);

/** Sidekiq's default backoff: `count⁴ + 15` seconds. */
export function defaultDelay(count: number): number {
  return count ** 4 + 15;
}

/**
 * The jitter Sidekiq adds to every delay: `rand(10) * (count + 1)` up to 7.x,
 * `rand(10 * (count + 1))` from 8.0.
 */
export function jitter(count: number, version: SidekiqVersion, random: RandomInt): number {
  return version >= 8 ? random(10 * (count + 1)) : random(10) * (count + 1);
}

export interface Failure {
  /** The payload as parsed (read-only). */
  readonly job: JobPayload;
  /** The queue the job was fetched from. */
  readonly queue: string;
  readonly error: JobError;
  readonly now: EpochMs;
  readonly version: SidekiqVersion;
  readonly random?: RandomInt;
  /** The handler's request: discard, kill, or the normal path (default). */
  readonly action?: FailureAction;
  /** The handler's delay (Sidekiq's `sidekiq_retry_in` returning a number); positive integers only. */
  readonly retryInSeconds?: number;
  /** @defaultValue 25 */
  readonly maxRetries?: number;
}

/** The `retry_count` after this failure: 0 on the first, else the stored count + 1 (it may be −1). */
export function nextRetryCount(job: Pick<JobPayload, 'retry_count'>): number {
  return typeof job.retry_count === 'number' ? job.retry_count + 1 : 0;
}

/**
 * Decides the outcome of a failure, in Sidekiq's order.
 *
 * @example
 * decide({ job, queue: 'default', error, now, version: 7, random: () => 0 })
 * // first failure of retry: true → { kind: 'retry', at: now + 15 s, count: 0, delaySeconds: 15 }
 */
export function decide(f: Failure): RetryDecision {
  const { job } = f;
  if (job.retry === false) return { kind: 'discard', reason: 'retry: false' };
  const count = nextRetryCount(job);
  const toDead = (reason: 'exhausted' | 'killed' | 'retry_for'): RetryDecision =>
    job.dead === false ? { kind: 'discard', reason: 'dead: false' } : { kind: 'dead', count, reason };

  // Exhaustion (and retry_for) first, as Sidekiq's `process_retry` does: only a job with retries
  // left asks `sidekiq_retry_in`, so a discard cannot save an exhausted job from the dead set.
  const max = typeof job.retry === 'number' ? job.retry : (f.maxRetries ?? DEFAULT_MAX_RETRIES);
  const firstFailure = count === 0 ? f.now : (readTimestamp(job.failed_at) ?? f.now);
  const retryFor = typeof job.retry_for === 'number' && f.version >= 7 ? job.retry_for : undefined;
  const windowOver = retryFor !== undefined && firstFailure + retryFor * 1000 < f.now;
  if (f.version >= 8 && retryFor !== undefined) {
    if (windowOver) return toDead('retry_for');
  } else {
    if (count >= max) return toDead('exhausted');
    if (windowOver) return toDead('retry_for');
  }
  if (f.action === 'discard') return { kind: 'discard', reason: 'discarded' };
  if (f.action === 'kill') return toDead('killed');

  const custom = f.retryInSeconds;
  const base = custom !== undefined && Number.isInteger(custom) && custom > 0 ? custom : defaultDelay(count);
  // A delay past what a time can hold (a handler's 1e308, count⁴ of a huge retry_count) would make
  // no score Redis takes: the far future is a century away.
  const delaySeconds = Math.min(base + jitter(count, f.version, f.random ?? defaultRandom), MAX_RETRY_DELAY_SECONDS);
  return { kind: 'retry', at: f.now + delaySeconds * 1000, count, delaySeconds };
}


/** `error_backtrace`: strict base64 of zlib-deflated JSON lines (readable by 6.4.1 through 8.x). */
export function encodeBacktrace(lines: readonly string[], backtrace: boolean | number): string | undefined {
  if (backtrace === false) return undefined;
  const kept = backtrace === true ? lines : lines.slice(0, backtrace);
  return deflateSync(Buffer.from(JSON.stringify(kept))).toString('base64');
}

/**
 * The failed payload: the fields Sidekiq sets on failure, appended in Sidekiq's order, the rest of
 * `raw` byte for byte.
 */
export function failedPayload(raw: string, f: Failure): string {
  const { job } = f;
  const first = typeof job.retry_count !== 'number';
  const fields: Record<string, unknown> = {
    queue: typeof job.retry_queue === 'string' && job.retry_queue !== '' ? job.retry_queue : f.queue,
    error_message: errorMessage(f.error.message),
    error_class: wellFormed(f.error.class),
  };
  if (first) fields.failed_at = writeTimestamp(f.now, f.version);
  else fields.retried_at = writeTimestamp(f.now, f.version);
  fields.retry_count = nextRetryCount(job);
  const bt = job.backtrace === undefined ? undefined : encodeBacktrace(f.error.backtrace.map(wellFormed), job.backtrace);
  if (bt !== undefined) fields.error_backtrace = bt;
  return withFields(raw, fields);
}
