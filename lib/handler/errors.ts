/**
 * How a job handler's failure reaches Sidekiq (sidekiq-protocol.md §5.3, §5.4).
 *
 * Tasks:
 * 1. The directives a handler throws to steer Sidekiq's retry, the equivalents of
 *    `sidekiq_retry_in` returning `:discard`, `:kill` or a number of seconds: {@link DiscardJob},
 *    {@link KillJob}, {@link RetryJobIn}, and their factories {@link discard}, {@link kill}, {@link retryIn}.
 * 2. Turn any thrown value into Sidekiq's error fields: `error_class`, `error_message` (at most
 *    10,000 characters, valid UTF-16 so Ruby's JSON reads it) and the backtrace lines.
 */
import type { FailureAction, JobError } from '../protocol/event.js';
import { errorMessage, wellFormed } from '../protocol/text.js';

export { MAX_ERROR_MESSAGE } from '../protocol/text.js';

/**
 * The base of the retry directives. Throw one of its subclasses (or use {@link discard},
 * {@link kill}, {@link retryIn}); the error it carries is the one Sidekiq records.
 */
export abstract class JobDirective extends Error {
  /** What the poller does with the job. */
  abstract readonly action: FailureAction;
  /** The failure Sidekiq records (`error_class` …); the directive itself when none was given. */
  readonly error: unknown;

  constructor(message: string, error?: unknown) {
    super(error instanceof Error ? error.message : error === undefined ? message : String(error), error === undefined ? undefined : { cause: error });
    this.error = error;
  }
}

/**
 * Drop the job: no retry, no dead set (`sidekiq_retry_in` returning `:discard`).
 *
 * @example
 * if (!user) throw new DiscardJob(new Error(`user ${id} was deleted`));
 */
export class DiscardJob extends JobDirective {
  override name = 'DiscardJob';
  readonly action = 'discard' as const;
  constructor(error?: unknown) {
    super('the handler discarded the job', error);
  }
}

/**
 * Send the job to the dead set now, without further retries (`sidekiq_retry_in` returning `:kill`).
 *
 * @example
 * if (!isValid(puzzle)) throw new KillJob(new TypeError('puzzle must be 81 characters'));
 */
export class KillJob extends JobDirective {
  override name = 'KillJob';
  readonly action = 'kill' as const;
  constructor(error?: unknown) {
    super('the handler killed the job', error);
  }
}

/**
 * Retry after `seconds` instead of Sidekiq's `count⁴ + 15` (`sidekiq_retry_in` returning a number).
 * Sidekiq still adds its jitter, and the job still dies once its retries are exhausted.
 *
 * @example
 * if (res.status === 429) throw new RetryJobIn(Number(res.headers.get('retry-after') ?? 60), new Error('rate limited'));
 */
export class RetryJobIn extends JobDirective {
  override name = 'RetryJobIn';
  readonly action = 'retry' as const;
  readonly seconds: number;
  constructor(seconds: number, error?: unknown) {
    super(`the handler asked for a retry in ${seconds} s`, error);
    this.seconds = checkDelay(seconds);
  }
}

/** A retry delay must be a finite number of seconds ≥ 0; Sidekiq wants whole seconds, so it is rounded up. */
export function checkDelay(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`a retry delay must be a finite number of seconds ≥ 0, got ${String(seconds)}`);
  }
  return Math.ceil(seconds);
}

/**
 * `throw discard(err)`: drop the job, recording `err`.
 *
 * @example
 * throw discard(new Error('order was cancelled'));
 */
export function discard(error?: unknown): DiscardJob {
  return new DiscardJob(error);
}

/**
 * `throw kill(err)`: send the job to the dead set at once.
 *
 * @example
 * throw kill(new Error('malformed arguments'));
 */
export function kill(error?: unknown): KillJob {
  return new KillJob(error);
}

/**
 * `throw retryIn(seconds, err)`: retry after this many seconds (plus Sidekiq's jitter).
 *
 * @example
 * throw retryIn(300, err);
 */
export function retryIn(seconds: number, error?: unknown): RetryJobIn {
  return new RetryJobIn(seconds, error);
}

/**
 * The class name Sidekiq records: a customised `error.name` (`TypeError`, `override name = …`),
 * else the constructor's name (a `class Timeout extends Error {}` reports `Timeout`), else `Error`.
 */
export function errorClass(error: unknown): string {
  if (!(error instanceof Error)) return 'Error';
  const ctor = (error.constructor as { name?: unknown } | undefined)?.name;
  if (error.name && error.name !== 'Error') return error.name;
  return typeof ctor === 'string' && ctor !== '' ? ctor : 'Error';
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    if (text !== undefined) return text;
  } catch {
    // circular or otherwise unserialisable: fall through
  }
  return String(value);
}

/** The stack frames of an error (`at fn (file:line:col)` lines), without the message header. */
export function backtraceOf(error: unknown): string[] {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return [];
  return error.stack
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('at '));
}

/**
 * Sidekiq's error fields for a thrown value. A directive reports the error it carries.
 *
 * @example
 * toJobError(new TypeError('boom')) // { class: 'TypeError', message: 'boom', backtrace: ['at …'] }
 */
export function toJobError(thrown: unknown): JobError {
  const error = thrown instanceof JobDirective && thrown.error !== undefined ? thrown.error : thrown;
  return {
    class: wellFormed(errorClass(error)),
    message: errorMessage(error instanceof Error ? error.message : describeThrown(error)),
    backtrace: backtraceOf(error).map(wellFormed),
  };
}
