/**
 * Payload fields that other Sidekiq gems write and a worker must not ignore (sidekiq-protocol.md
 * §13.5), read as pure decisions; the poller's screen (lib/poller/screen.ts) acts on them.
 *
 * Tasks:
 * 1. Expiring jobs: the time after which a job must not start (`expires_at`, float seconds as
 *    Sidekiq Pro's `expires_in` and the open-source sidekiq-expiring-jobs write it; integer ms read
 *    too).
 * 2. Name the features a job uses that Lambda cannot honour — a Sidekiq Pro batch (`bid`), an
 *    Enterprise unique job (`unique_for`), an Enterprise encrypted job (`encrypt`), a
 *    sidekiq-unique-jobs lock type of the app's own — and say why and what to do.
 * 3. Say whether Ruby can take such a job, and on which queue: its class has a share in Ruby or a
 *    queue Ruby drains (a shared declaration, or the job came from Ruby's queue), and that queue is
 *    not one this poller drains.
 * 4. Pin the job to Ruby on the way (`ruby_only`), so routing never sends it back.
 */
import { withFields, type JobPayload } from './job.js';
import { readTimestamp, type EpochMs } from './time.js';
import { originalQueue, routedClass, ROUTED_FROM, RUBY_ONLY, type RoutingView } from './routing.js';
import { customLockType } from './unique.js';

/**
 * When the job expires (`expires_at`), or undefined.
 *
 * @example
 * expiresAt({ class: 'A', args: [], jid: 'j', queue: 'q', expires_at: 1795334852.5 }) // 1795334852500
 */
export function expiresAt(job: JobPayload): EpochMs | undefined {
  return readTimestamp(job.expires_at);
}

/**
 * Whether a job must not start at `now`: its `expires_at` has passed (Sidekiq Pro runs a job up to
 * and at its expiry, and skips it after).
 *
 * @example
 * isExpired({ class: 'A', args: [], jid: 'j', queue: 'q', expires_at: 1 }, Date.now()) // true
 */
export function isExpired(job: JobPayload, now: EpochMs): boolean {
  const at = expiresAt(job);
  return at !== undefined && at < now;
}

/** A feature of a job that Lambda cannot honour. */
export interface Unhonourable {
  /** The payload field that says so: `bid`, `unique_for`, `encrypt` or `lock`. */
  readonly field: 'bid' | 'unique_for' | 'encrypt' | 'lock';
  /** What the feature is and why it cannot run on Lambda, as a clause. */
  readonly why: string;
}

/**
 * The first feature of `job` that Lambda cannot honour, or undefined.
 *
 * @example
 * unhonourable({ class: 'A', args: [], jid: 'j', queue: 'q', bid: 'b-1' })?.field // 'bid'
 */
export function unhonourable(job: JobPayload): Unhonourable | undefined {
  const present = (v: unknown): boolean => v !== undefined && v !== null && v !== false && v !== '';
  if (present(job.bid)) return { field: 'bid', why: `it is part of a Sidekiq Pro batch (bid ${typeof job.bid === 'string' ? job.bid : 'not a string'}), whose counts and callbacks only Sidekiq Pro's Ruby middleware keeps` };
  if (present(job.unique_for)) return { field: 'unique_for', why: "it is a Sidekiq Enterprise unique job (unique_for), whose lock only Sidekiq Enterprise's Ruby middleware releases" };
  if (present(job.encrypt)) return { field: 'encrypt', why: 'it is a Sidekiq Enterprise encrypted job (encrypt): its last argument is a secret bag only Sidekiq Enterprise can decrypt' };
  const lock = customLockType(job);
  if (lock !== undefined) return { field: 'lock', why: `its sidekiq-unique-jobs lock type ${lock} is the app's own, whose server side only Ruby has` };
  return undefined;
}

/** The error class of a job Lambda cannot honour, sent to the dead set. */
export const UNHONOURABLE_ERROR = 'SidekiqLambda::UnsupportedFeature';

/**
 * Why a job Lambda cannot honour went to the dead set, and what to do.
 *
 * @example
 * unhonourableMessage({ field: 'bid', why: '…' }, 'ReportJob', 'reports') // 'ReportJob cannot run on Lambda: … Let Ruby run such jobs — …'
 */
export function unhonourableMessage(f: Unhonourable, cls: string, queue: string): string {
  return (
    `${cls} cannot run on Lambda: ${f.why}. Ruby cannot take it: ${cls} has no share in Ruby and no queue Ruby drains (its queue ${queue} is this poller's). ` +
    `Let Ruby run such jobs — declare ${cls} with shared: true in sidekiq-lambda.config.ts, so Ruby drains its queue — then retry this job from the dead set; or enqueue ${cls} without ${f.field}`
  );
}

/**
 * The queue on which Ruby would run the job, or undefined when Ruby cannot take it: its class has
 * no share in Ruby (a route below 100%), no shared declaration and the job did not come from a Ruby
 * queue — or that queue is one of `drained` (the poller's own: Ruby never sees it).
 *
 * @example
 * rubyQueue(view, { class: 'A', args: [], jid: 'j', queue: 'lambda.A', routed_from: 'default' }, new Set(['lambda.A'])) // 'default'
 */
export function rubyQueue(view: RoutingView, job: JobPayload, drained: ReadonlySet<string>): string | undefined {
  const cls = routedClass(job);
  const entry = view.routes.get(cls);
  const rubyRuns = (entry !== undefined && entry.percent < 100) || view.declared.get(cls)?.shared === true || typeof job[ROUTED_FROM] === 'string';
  if (!rubyRuns) return undefined;
  const queue = originalQueue(job, view);
  return drained.has(queue) ? undefined : queue;
}

/**
 * The payload as it goes to Ruby: on `queue`, unmarked, pinned (`ruby_only` names the field); every
 * other byte kept.
 *
 * @example
 * pinToRuby('{"queue":"lambda.A","class":"A","bid":"b","routed_from":"default"}', 'bid', 'default')
 * // '{"queue":"default","class":"A","bid":"b","ruby_only":"bid"}'
 */
export function pinToRuby(raw: string, field: Unhonourable['field'], queue: string): string {
  return withFields(raw, { queue, [ROUTED_FROM]: undefined, [RUBY_ONLY]: field });
}
