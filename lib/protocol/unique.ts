/**
 * The fields sidekiq-unique-jobs (8.x) writes into a payload, read as its server middleware reads
 * them (sidekiq-protocol.md §13.3; the gem's `lock_config.rb`, `config.rb`, `lock/while_executing.rb`,
 * `on_conflict/*.rb`, 8.1.0). Pure: lib/sidekiq/unique.ts acts on what this reads.
 *
 * Tasks:
 * 1. Read a job's lock (`readUniqueLock`): its type under any of the gem's names, the digest its
 *    client locked (`lock_digest`), the runtime digest (`<digest>:RUN`), limit, TTL, and what to do
 *    when a runtime lock is taken (`serverConflict`).
 * 2. Tell a lock type the gem does not define (an app's custom lock) from no lock at all, so such a
 *    job is not run half-right (`customLockType`).
 * 3. Build what a conflict produces: the gem's `SidekiqUniqueJobs::Conflict` error, and the
 *    rescheduled copy of the job (`rescheduledPayload`).
 */
import { withFields, type JobPayload } from './job.js';
import { writeTimestamp, type EpochMs, type SidekiqVersion } from './time.js';

/** What a worker does for a lock, whatever the name the job uses. */
export type LockKind = 'until_executed' | 'until_executing' | 'while_executing' | 'until_and_while_executing' | 'until_expired';

/** The gem's lock names (its `Config::LOCKS`) and what each means on the worker's side. */
export const LOCK_KINDS: Readonly<Record<string, LockKind>> = {
  until_executed: 'until_executed',
  until_completed: 'until_executed',
  until_performed: 'until_executed',
  until_processed: 'until_executed',
  until_successfully_completed: 'until_executed',
  until_executing: 'until_executing',
  while_enqueued: 'until_executing',
  while_executing: 'while_executing',
  around_perform: 'while_executing',
  while_busy: 'while_executing',
  while_working: 'while_executing',
  while_executing_reject: 'while_executing',
  until_and_while_executing: 'until_and_while_executing',
  until_expired: 'until_expired',
};

/** The suffix of a runtime lock's digest (`WhileExecuting::RUN_SUFFIX`). */
export const RUN_SUFFIX = ':RUN';

/** A job's lock, as the gem's server middleware sees it. */
export interface UniqueLock {
  readonly jid: string;
  /** The type as the payload names it (`lock`). */
  readonly type: string;
  readonly kind: LockKind;
  /** The payload's `lock_digest`, exactly: the lock the client took (already `…:RUN` for `while_executing`). */
  readonly digest: string;
  /** The runtime lock's digest: `digest` with `:RUN` (once). */
  readonly runDigest: string;
  /** `lock_limit` (locks held at once); 1 unless the job says otherwise. */
  readonly limit: number;
  /** `lock_ttl` in ms; 0 for none. */
  readonly pttl: number;
  /** The server's `on_conflict` strategy as named (`raise`, `reject`, `reschedule`, `log`…), if any. */
  readonly onConflict?: string;
  /** Seconds a `reschedule` conflict waits (`schedule_in`; the gem's default 5). */
  readonly scheduleInSeconds: number;
}

/**
 * The job's lock, or undefined when the gem's server middleware would leave the job alone: no lock
 * type, no `lock_digest`, a type the gem does not define (see `customLockType`), or a job the gem's
 * `reschedule` strategy marked `rescheduled`.
 *
 * @example
 * readUniqueLock({ class: 'A', args: [1], jid: 'j', queue: 'q', lock: 'until_executed', lock_digest: 'uniquejobs:abc' })?.kind // 'until_executed'
 */
export function readUniqueLock(job: JobPayload): UniqueLock | undefined {
  const type = job.lock;
  const digest = typeof job.lock_digest === 'string' ? job.lock_digest : job.unique_digest;
  if (typeof type !== 'string' || typeof digest !== 'string' || digest === '' || job.rescheduled) return undefined;
  // Own keys only: a lock named `constructor` or `toString` is not one of the gem's types.
  const kind = Object.hasOwn(LOCK_KINDS, type) ? LOCK_KINDS[type] : undefined;
  if (!kind) return undefined;
  const limit = typeof job.lock_limit === 'number' && job.lock_limit >= 1 ? Math.floor(job.lock_limit) : 1;
  const ttl = numberOf(job.lock_ttl ?? job.lock_expiration);
  const scheduleIn = numberOf(job.schedule_in);
  return {
    jid: typeof job.jid === 'string' ? job.jid : '',
    type,
    kind,
    digest,
    runDigest: digest.endsWith(RUN_SUFFIX) ? digest : digest + RUN_SUFFIX,
    limit,
    pttl: Number.isFinite(ttl) && ttl > 0 ? Math.floor(ttl) * 1000 : 0,
    onConflict: type === 'while_executing_reject' ? 'reject' : serverStrategy(job),
    scheduleInSeconds: Number.isFinite(scheduleIn) && scheduleIn > 0 ? scheduleIn : 5,
  };
}

/** A number the payload holds as a number or a numeric string; NaN for anything else (an object never converts). */
function numberOf(value: unknown): number {
  return typeof value === 'number' || typeof value === 'string' ? Number(value) : Number.NaN;
}

/** `on_server_conflict`, else `on_conflict.server`, else `on_conflict` when it is a name (`LockConfig#on_server_conflict`). */
function serverStrategy(job: JobPayload): string | undefined {
  if (typeof job.on_server_conflict === 'string') return job.on_server_conflict;
  const c = job.on_conflict;
  if (typeof c === 'string') return c;
  if (c !== null && typeof c === 'object' && typeof (c as Record<string, unknown>).server === 'string') return (c as Record<string, string>).server;
  return undefined;
}

/**
 * A lock type with a digest that the gem does not define — an app's own lock class (`add_lock`),
 * whose server side only Ruby knows — or undefined.
 *
 * @example
 * customLockType({ class: 'A', args: [], jid: 'j', queue: 'q', lock: 'my_lock', lock_digest: 'uniquejobs:abc' }) // 'my_lock'
 */
export function customLockType(job: JobPayload): string | undefined {
  const digest = job.lock_digest ?? job.unique_digest;
  return typeof job.lock === 'string' && typeof digest === 'string' && !Object.hasOwn(LOCK_KINDS, job.lock) ? job.lock : undefined;
}

/** What a job whose runtime lock is held elsewhere becomes (the gem's server `on_conflict`). */
export type ServerConflict = 'skip' | 'raise' | 'reject' | 'reschedule';

/**
 * The gem's strategy for a runtime lock it cannot take: `raise` fails the job (Sidekiq retries it),
 * `reject` sends it to the dead set, `reschedule` enqueues a copy in `schedule_in` seconds; with
 * none, `log`, or the client-only `replace`, the job is skipped ("dropped without notice").
 *
 * @example
 * serverConflict({ onConflict: 'raise' }) // 'raise'
 */
export function serverConflict(lock: Pick<UniqueLock, 'onConflict'>): ServerConflict {
  const s = lock.onConflict;
  return s === 'raise' || s === 'reject' || s === 'reschedule' ? s : 'skip';
}

/** The error the gem's `raise` strategy raises (`SidekiqUniqueJobs::Conflict`). */
export function conflictError(digest: string): { class: string; message: string; backtrace: string[] } {
  return { class: 'SidekiqUniqueJobs::Conflict', message: `Item with the key: ${digest} is already scheduled or processing`, backtrace: [] };
}

/**
 * The copy the gem's `reschedule` strategy enqueues (`perform_in(schedule_in, *args)` on the job's
 * class and queue): a new jid and `created_at`, nothing of this run's enqueue or failures; the rest,
 * lock fields included, byte for byte.
 *
 * @example
 * rescheduledPayload(raw, 'b1946ac92492d2347c6235b4', Date.now(), 7)
 */
export function rescheduledPayload(raw: string, jid: string, now: EpochMs, version: SidekiqVersion): string {
  const gone = ['enqueued_at', 'error_message', 'error_class', 'failed_at', 'retried_at', 'retry_count', 'error_backtrace', 'discarded_at'];
  return withFields(raw, { jid, created_at: writeTimestamp(now, version), ...Object.fromEntries(gone.map((k) => [k, undefined])) });
}
