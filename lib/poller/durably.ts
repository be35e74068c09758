/**
 * Writes that must not be given up: a job's outcome, forward or unique lock is written again until
 * Redis takes it (a failover, READONLY, BUSY or a dropped connection passes), each write being
 * safe to repeat. Only past the shutdown deadline does the poller stop, and the job then stays in
 * flight for recovery.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';

export interface DurablyOptions {
  /** What is written, for the log: `could not <what>; retrying`. */
  readonly what: string;
  /** True once the shutdown deadline has passed: rethrow instead of trying again. */
  readonly givenUp: () => boolean;
  readonly log: Logger;
  /** Logged with each failure (jid, queue…). */
  readonly fields?: Record<string, unknown>;
  /** An error that repeating cannot cure: rethrown at once. */
  readonly final?: (e: unknown) => boolean;
}

/**
 * Runs `write` until it succeeds, waiting 100 ms, then twice as long each time up to 5 s.
 *
 * @example
 * await durably(() => fetcher.forward(j, { queue }, payload), { what: 'forward a job', givenUp, log, fields: { jid } });
 */
export async function durably<T>(write: () => Promise<T>, opts: DurablyOptions): Promise<T> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await write();
    } catch (e) {
      if (opts.givenUp() || opts.final?.(e)) throw e;
      opts.log.error(`could not ${opts.what}; retrying`, { ...opts.fields, error: (e as Error).message, retryInMs: delay });
      await sleep(delay);
    }
  }
}
