/**
 * sidekiq-unique-jobs (8.x) on the worker's side: what the gem's server middleware and death
 * handler do around a job, done for a job that runs on Lambda, on the gem's own keys with the steps
 * of its own scripts (sidekiq-protocol.md §13.3; the gem's `lock/*.rb` and `lua/*.lua`, 8.1.0).
 *
 * Tasks:
 * 1. Before the run (`start`), per lock type:
 *    - `until_executed`, `until_expired`: run when the job holds its lock, or takes it back when it
 *      is gone; a job whose lock another job holds is a duplicate and is not run (the gem's
 *      `locksmith.execute` yields nothing);
 *    - `until_executing`: unlock, then run;
 *    - `while_executing`: take the runtime lock `<digest>:RUN` without waiting (8.1 never waits while
 *      another job holds it, whatever `lock_timeout` says); failing that, a conflict;
 *    - `until_and_while_executing`: unlock (a job that cannot — another holds its lock — is not run),
 *      then as `while_executing`.
 * 2. After the outcome is written (`finish`): release the runtime lock whatever happened (the gem's
 *    `ensure`); `until_executed` unlocks after success and keeps its lock while the job retries;
 *    `until_executing` and `until_and_while_executing` lock again for a retry (the gem's
 *    `lock(wait: 0)` on failure); `until_expired` never unlocks; a job that died loses every key of
 *    its digest (the gem's death handler); a job that will not run again (discarded, expired)
 *    releases what it holds at once, where the gem leaves it to its orphan reaper.
 */
import type { Redis } from 'ioredis';
import { uniqueKeys, type Keys, type UniqueKeys } from '../protocol/keys.js';
import { serverConflict, type ServerConflict, type UniqueLock } from '../protocol/unique.js';
import { registerScripts } from '../redis/scripts.js';

/** The gem's default `max_history`: changelog entries kept. */
export const UNIQUE_MAX_HISTORY = 1000;

/** What `start` decided. */
export type UniqueStart =
  | { readonly run: true; readonly lock: UniqueLock; readonly runLocked: boolean }
  | { readonly run: false; readonly lock: UniqueLock; readonly conflict: 'duplicate' | ServerConflict; readonly reason: string };

/**
 * How a job left flight, for its lock: succeeded; will run again (retry, or requeued untouched);
 * died; will never run again (discarded, expired); or was not run because of its lock (`skipped`).
 */
export type UniqueEnd = 'ok' | 'retry' | 'requeue' | 'dead' | 'gone' | 'skipped';

export interface UniqueLocksOptions {
  /** @defaultValue {@link UNIQUE_MAX_HISTORY} — the app's `max_history` (0: write no changelog). */
  readonly maxHistory?: number;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

/**
 * @example
 * const locks = new UniqueLocks(redis, keys());
 * const lock = readUniqueLock(job);
 * const started = lock && (await locks.start(lock));
 * if (!started || started.run) await invoke(job);
 * if (lock) await locks.finish(lock, 'ok', started);
 */
export class UniqueLocks {
  constructor(
    private readonly redis: Redis,
    private readonly base: Pick<Keys, 'prefix'>,
    private readonly opts: UniqueLocksOptions = {},
  ) {
    registerScripts(redis);
  }

  /** Before the run: may the job run, and does it hold its runtime lock. */
  async start(lock: UniqueLock): Promise<UniqueStart> {
    const run = (runLocked: boolean): UniqueStart => ({ run: true, lock, runLocked });
    const duplicate: UniqueStart = { run: false, lock, conflict: 'duplicate', reason: `another job holds its lock ${lock.digest}` };
    switch (lock.kind) {
      case 'until_executed':
      case 'until_expired':
        return (await this.lock(lock, lock.digest)) ? run(false) : duplicate;
      case 'until_executing':
        await this.unlock(lock, lock.digest);
        return run(false);
      case 'until_and_while_executing':
        if (!(await this.unlock(lock, lock.digest))) return duplicate;
        return this.startRun(lock);
      case 'while_executing':
        return this.startRun(lock);
    }
  }

  /** After the outcome is written. `started` is what `start` said, if it was asked. */
  async finish(lock: UniqueLock, end: UniqueEnd, started?: UniqueStart): Promise<void> {
    if (started?.run && started.runLocked) await this.unlock(lock, lock.runDigest);
    if (end === 'dead') {
      await this.deleteDigest(lock.digest);
      return;
    }
    if (end === 'skipped') return;
    if (end === 'gone') {
      // Never to run again: release the queue-time lock it holds (unlocked already if it started).
      const holding = lock.kind === 'until_executed' || (!started && (lock.kind === 'until_executing' || lock.kind === 'until_and_while_executing'));
      if (holding) await this.unlock(lock, lock.digest);
      return;
    }
    if (!started) return;
    const again = end === 'retry' || end === 'requeue';
    switch (lock.kind) {
      case 'until_executed':
        if (!again) await this.unlock(lock, lock.digest);
        return;
      case 'until_executing':
      case 'until_and_while_executing':
        if (again) await this.lock(lock, lock.digest);
        return;
      case 'while_executing':
      case 'until_expired':
        return;
    }
  }

  /** Takes the lock of `digest` without waiting (unique-lock-8.lua); true when the job holds it (or held it already). */
  async lock(lock: UniqueLock, digest: string): Promise<boolean> {
    const k = uniqueKeys(this.base, digest);
    const r = await this.redis.sklUniqueLock_v1(...lockKeys(k), k.expiringDigests, lock.jid, lock.pttl, lock.type, lock.limit, '', this.seconds(), this.maxHistory());
    return r === lock.jid;
  }

  /** Releases the lock of `digest` (unique-unlock-7.lua); true when released, false when others hold it. */
  async unlock(lock: UniqueLock, digest: string): Promise<boolean> {
    const r = await this.redis.sklUniqueUnlock_v1(...lockKeys(uniqueKeys(this.base, digest)), lock.jid, lock.type, lock.limit, this.seconds(), this.maxHistory());
    return r === lock.jid;
  }

  /** Deletes every key of `digest`, its runtime lock's too (unique-delete-9.lua, the gem's death handler). */
  async deleteDigest(digest: string): Promise<number> {
    const k = uniqueKeys(this.base, digest);
    const run = uniqueKeys(this.base, digest + ':RUN');
    return this.redis.sklUniqueDelete_v1(k.digest, k.queued, k.primed, k.locked, run.digest, run.queued, run.primed, run.locked, k.digests);
  }

  private async startRun(lock: UniqueLock): Promise<UniqueStart> {
    if (await this.lock(lock, lock.runDigest)) return { run: true, lock, runLocked: true };
    return { run: false, lock, conflict: serverConflict(lock), reason: `another job is running with its runtime lock ${lock.runDigest}` };
  }

  private seconds(): string {
    return String((this.opts.now ?? Date.now)() / 1000);
  }

  private maxHistory(): number {
    return this.opts.maxHistory ?? UNIQUE_MAX_HISTORY;
  }
}

/** The first seven keys of the gem's lock scripts, in their order. */
function lockKeys(k: UniqueKeys): string[] {
  return [k.digest, k.queued, k.primed, k.locked, k.info, k.changelog, k.digests];
}
