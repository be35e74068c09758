/**
 * The processor's side of sidekiq-unique-jobs: the two points where the gem's server middleware
 * acts on a job that runs on Lambda (lib/sidekiq/unique.ts says what it does there).
 *
 * Tasks:
 * 1. Before an Invoke (`start`): ask each job's lock whether the job may run; plan the others — a
 *    duplicate is skipped; a job whose runtime lock is held meets its `on_conflict`: skipped,
 *    failed with `SidekiqUniqueJobs::Conflict` (`raise`: it retries), moved to the dead set as it
 *    is (`reject`), or rescheduled as a new job in `schedule_in` seconds with its acknowledgement.
 *    A job asked twice (a batch too large, sent again job by job) gets the first answer.
 * 2. After a job's outcome is written (`finish`), or when it goes back to its queue untouched
 *    (`putBack`): tell its lock how the job left flight.
 * 3. Retry while Redis refuses, as outcome writes do, until the shutdown deadline; then log what
 *    was left (a lock then expires with its TTL, or the gem's reaper removes it).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { JobPayload } from '../protocol/job.js';
import { conflictError, readUniqueLock, rescheduledPayload } from '../protocol/unique.js';
import type { UniqueEnd, UniqueLocks, UniqueStart } from '../sidekiq/unique.js';
import { planFailure, uniqueEnd, type Plan, type PlanContext, type RunningJob } from './outcomes.js';
import { durably } from './durably.js';

export interface UniqueHookOptions {
  readonly locks: UniqueLocks;
  readonly log: Logger;
  /** True once the shutdown deadline has passed: stop retrying a refused write. */
  readonly givenUp: () => boolean;
}


export class UniqueHook {
  /** What `start` said for each job still in flight. */
  private readonly started = new WeakMap<JobPayload, UniqueStart>();

  constructor(private readonly opts: UniqueHookOptions) {}

  /**
   * The jobs of a batch that may run, and the plans of those that may not. Every lock of the batch
   * is asked at once, not one round trip after another: ioredis sends the commands in call order on
   * one connection, so of two jobs of one digest in a batch the first still wins.
   */
  async start(jobs: readonly RunningJob[], ctx: PlanContext): Promise<{ run: RunningJob[]; skipped: { j: RunningJob; plan: Plan }[] }> {
    const answers = await Promise.all(jobs.map((j) => this.ask(j)));
    const run: RunningJob[] = [];
    const skipped: { j: RunningJob; plan: Plan }[] = [];
    jobs.forEach((j, i) => {
      const s = answers[i];
      if (!s || s.run) run.push(j);
      else skipped.push({ j, plan: this.planConflict(j, s, ctx) });
    });
    return { run, skipped };
  }

  /** What the job's lock says before its run (asked once per job in flight); undefined without a lock. */
  private async ask(j: RunningJob): Promise<UniqueStart | undefined> {
    const lock = readUniqueLock(j.job);
    if (!lock) return undefined;
    let s = this.started.get(j.job);
    if (!s) this.started.set(j.job, (s = await this.durably('take or release a unique lock before a run', j, () => this.opts.locks.start(lock))));
    return s;
  }

  /** After a job's outcome is written: unlock, lock again or delete, as its lock type says. */
  finish(j: RunningJob, plan: Plan): Promise<void> {
    return this.end(j, uniqueEnd(plan));
  }

  /** A job put back on its queue untouched after `start` (the rest of a batch at shutdown). */
  putBack(j: RunningJob): Promise<void> {
    return this.end(j, 'requeue');
  }

  private async end(j: RunningJob, end: UniqueEnd): Promise<void> {
    const lock = readUniqueLock(j.job);
    if (!lock) return;
    const started = this.started.get(j.job);
    this.started.delete(j.job);
    try {
      await this.durably('release a unique lock after a run', j, () => this.opts.locks.finish(lock, end, started));
    } catch (e) {
      this.opts.log.error('a unique lock was left as it was at shutdown: it expires with its lock_ttl, or the gem’s reaper removes it', { jid: j.job.jid, digest: lock.digest, error: (e as Error).message });
    }
  }

  private planConflict(j: RunningJob, s: Extract<UniqueStart, { run: false }>, ctx: PlanContext): Plan {
    const reason = s.reason;
    switch (s.conflict) {
      case 'duplicate':
      case 'skip':
        return { kind: 'skipped', why: 'unique', reason };
      case 'raise':
        return planFailure(j, conflictError(s.lock.runDigest), ctx);
      case 'reject':
        return { kind: 'skipped', why: 'unique', reason, then: { dead: j.raw } };
      case 'reschedule': {
        const at = ctx.now + s.lock.scheduleInSeconds * 1000;
        return { kind: 'skipped', why: 'unique', reason, then: { enqueued: [{ at, payload: rescheduledPayload(j.raw, randomBytes(12).toString('hex'), ctx.now, ctx.version) }] } };
      }
    }
  }

  private durably<T>(what: string, j: RunningJob, fn: () => Promise<T>): Promise<T> {
    return durably(fn, { what, givenUp: this.opts.givenUp, log: this.opts.log, fields: { jid: j.job.jid, queue: j.queue } });
  }
}
