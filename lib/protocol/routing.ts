/**
 * Per-class routing between Ruby and Lambda, as data and pure decisions — shared word for word with
 * the Ruby side (`ruby/sidekiq-lambda/lib/sidekiq_lambda/routing.rb`), so both sides decide alike.
 *
 * Tasks:
 * 1. Read and write the routing table's entries (`percent` of a class on Lambda, `paused`, who and
 *    when) and the poller's published declarations (the class's queue, whether Ruby shares it, the
 *    queue the poller drains for it).
 * 2. Decide where a job runs: `decideRoute(table, class, draw)`. The draw comes from the jid
 *    (`jidDraw`, FNV-1a), not from a random source, so every hop — the client at enqueue, Ruby or
 *    the poller at fetch, a migration — reaches the same answer for the same job, and raising the
 *    percentage only moves jobs from Ruby to Lambda.
 * 3. Say where a job waits for a decision (`placement`): stay, hold, or move to a queue, with its
 *    payload marked (`routed_from` records its original queue) or unmarked — byte-exact edits; and
 *    where a rendered job being enqueued goes (`enqueuePlacement`), as a push would send it.
 * 4. Keep a job pinned to Ruby (`ruby_only`: the poller sent it there because Lambda cannot honour
 *    a feature it uses) on Ruby's side whatever its class's share, so it never bounces back.
 */
import { displayClass, readJob, withFields, type JobPayload } from './job.js';
import type { Enqueue } from './event.js';

/** The payload field that records a job's original (Ruby) queue while it waits on the Lambda side. */
export const ROUTED_FROM = 'routed_from';

/**
 * The payload field that pins a job to Ruby: the poller sent it there because Lambda cannot honour
 * what it names (`bid`, `unique_for`, `encrypt`, a custom `lock`). Routing never moves it to Lambda.
 */
export const RUBY_ONLY = 'ruby_only';

/** One class's route. No entry at all means "as before routing existed". */
export interface RouteEntry {
  /** Share of the class's jobs that run on Lambda, 0–100 (0 = all in Ruby). */
  readonly percent: number;
  /** Held: run nowhere until resumed; the percentage is kept for the resume. */
  readonly paused: boolean;
  /** Who set it (`alice@laptop`, `Web UI (10.0.0.7)`). */
  readonly by: string;
  /** When, epoch ms. */
  readonly at: number;
}

/** A class as a poller declares it (published by every poller at start, refreshed each minute). */
export interface Declaration {
  /** The declared queue: Ruby's queue for a shared class, the poller's own otherwise. */
  readonly queue: string;
  /** Ruby drains `queue` too: the poller runs the class only from `lambdaQueue`. */
  readonly shared: boolean;
  /** The queue the poller drains for the class. */
  readonly lambdaQueue: string;
  /** The last poller to publish it, and when (epoch ms). */
  readonly by: string;
  readonly at: number;
}

export type RouteTable = ReadonlyMap<string, RouteEntry>;

/** What a routing reader caches: the table and the declarations. */
export interface RoutingView {
  readonly routes: RouteTable;
  readonly declared: ReadonlyMap<string, Declaration>;
}

export const EMPTY_VIEW: RoutingView = { routes: new Map(), declared: new Map() };

/** Where a class's job runs: `unrouted` (no entry: as before), `hold` (paused), or a side. */
export type RouteDecision = 'unrouted' | 'hold' | 'ruby' | 'lambda';

/**
 * A number in [0, 1) fixed by the jid: FNV-1a (32 bit) of its UTF-8 bytes over 2^32. Ruby computes
 * the same number (`SidekiqLambda::Routing.jid_draw`).
 *
 * @example
 * jidDraw('6cb5902100bdc6bb63743e09') // 0.98501966… on both sides
 */
export function jidDraw(jid: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(jid, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 4294967296;
}

/**
 * Decides where a job of `cls` runs now.
 *
 * @example
 * decideRoute(new Map([['TrackUserJob', { percent: 10, paused: false, by: 'ops', at: 0 }]]), 'TrackUserJob', 0.05) // 'lambda'
 * decideRoute(new Map(), 'TrackUserJob', 0.05) // 'unrouted'
 */
export function decideRoute(table: RouteTable, cls: string, draw: number): RouteDecision {
  const entry = table.get(cls);
  if (!entry) return 'unrouted';
  if (entry.paused) return 'hold';
  return draw * 100 < entry.percent ? 'lambda' : 'ruby';
}

/**
 * Decides where one job runs: its class's route for its jid, except that a job pinned to Ruby
 * (`ruby_only`) never goes to Lambda.
 *
 * @example
 * decideJob(new Map([['A', { percent: 100, paused: false, by: 'ops', at: 0 }]]), { class: 'A', jid: 'j', ruby_only: 'bid' }) // 'ruby'
 */
export function decideJob(table: RouteTable, job: Pick<JobPayload, 'class' | 'wrapped' | 'jid'> & Record<string, unknown>): RouteDecision {
  const d = decideRoute(table, routedClass(job), jidDraw(String(job.jid ?? '')));
  return d === 'lambda' && isPinnedToRuby(job) ? 'ruby' : d;
}

/** Whether the poller pinned the job to Ruby (`ruby_only`). */
export function isPinnedToRuby(job: Record<string, unknown>): boolean {
  return typeof job[RUBY_ONLY] === 'string' && job[RUBY_ONLY] !== '';
}

/** A route as people read it: `lambda 10%`, `lambda 100%`, `ruby`, `paused (lambda 10%)`. */
export function describeRoute(entry: Pick<RouteEntry, 'percent' | 'paused'> | undefined): string {
  if (!entry) return 'unrouted';
  const side = entry.percent <= 0 ? 'ruby' : `lambda ${formatPercent(entry.percent)}`;
  return entry.paused ? `paused (${side})` : side;
}

/**
 * A percentage as `route` prints it.
 *
 * @example
 * formatPercent(12.5) // "12.5%"
 */
export function formatPercent(p: number): string {
  return `${Number.isInteger(p) ? p : p.toFixed(2).replace(/0+$/, '')}%`;
}

/**
 * Parses `10%`, `10`, `0.5%` into a percentage from 0 to 100; throws a message naming the input.
 *
 * @example
 * parsePercent('10%') // 10
 */
export function parsePercent(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 100)) throw new RangeError(`a share of jobs must be a percentage from 0% to 100%, got "${text}"`);
  return n;
}

/**
 * Reads a table entry; undefined for anything unreadable (treated as no entry, never a crash).
 *
 * @example
 * readRouteEntry('{"percent":10,"paused":false}') // { percent: 10, paused: false, by: '', at: 0 }
 */
export function readRouteEntry(text: string | null | undefined): RouteEntry | undefined {
  const v = parseObject(text);
  if (!v || typeof v.percent !== 'number' || !(v.percent >= 0 && v.percent <= 100)) return undefined;
  return { percent: v.percent, paused: v.paused === true, by: typeof v.by === 'string' ? v.by : '', at: typeof v.at === 'number' ? v.at : 0 };
}

/**
 * The JSON a table entry is stored as (the Ruby side reads the same fields).
 *
 * @example
 * writeRouteEntry({ percent: 10, paused: false, by: 'ops', at: 0 }) // '{"percent":10,"paused":false,"by":"ops","at":0}'
 */
export function writeRouteEntry(e: RouteEntry): string {
  return JSON.stringify({ percent: e.percent, paused: e.paused, by: e.by, at: e.at });
}

/**
 * Reads a published declaration; undefined when unreadable.
 *
 * @example
 * readDeclaration('{"queue":"default","shared":true,"lambdaQueue":"lambda.A"}')?.lambdaQueue // 'lambda.A'
 */
export function readDeclaration(text: string | null | undefined): Declaration | undefined {
  const v = parseObject(text);
  if (!v || typeof v.queue !== 'string' || typeof v.lambdaQueue !== 'string') return undefined;
  return { queue: v.queue, shared: v.shared === true, lambdaQueue: v.lambdaQueue, by: typeof v.by === 'string' ? v.by : '', at: typeof v.at === 'number' ? v.at : 0 };
}

/**
 * The JSON a declaration is published as.
 *
 * @example
 * writeDeclaration({ queue: 'default', shared: true, lambdaQueue: 'lambda.A', by: 'host:1:ab', at: 0 })
 */
export function writeDeclaration(d: Declaration): string {
  return JSON.stringify({ queue: d.queue, shared: d.shared, lambdaQueue: d.lambdaQueue, by: d.by, at: d.at });
}

/**
 * Builds a view from the two hashes as HGETALL returns them; unreadable entries are left out.
 *
 * @example
 * readView(await redis.hgetall(k.routes), await redis.hgetall(k.declared))
 */
export function readView(routes: Record<string, string>, declared: Record<string, string>): RoutingView {
  const r = new Map<string, RouteEntry>();
  for (const [cls, text] of Object.entries(routes)) {
    const e = readRouteEntry(text);
    if (e) r.set(cls, e);
  }
  const d = new Map<string, Declaration>();
  for (const [cls, text] of Object.entries(declared)) {
    const e = readDeclaration(text);
    if (e) d.set(cls, e);
  }
  return { routes: r, declared: d };
}

function parseObject(text: string | null | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The class a job is routed by: the class a human means (`displayClass`: the ActiveJob class for
 * wrapped jobs, else `class`) — one function, so the poller decides and routes a job's class alike.
 *
 * @example
 * routedClass({ class: 'Sidekiq::ActiveJob::Wrapper', wrapped: 'WelcomeJob' }) // 'WelcomeJob'
 */
export const routedClass: (job: Pick<JobPayload, 'class' | 'wrapped'>) => string = displayClass;

/**
 * The queue a job returns to on Ruby's side: `routed_from` when marked; the declared queue when it
 * sits unmarked on the class's Lambda queue (a retry written there before marking existed); else
 * its `queue` (`default` when absent, as Sidekiq's client).
 *
 * @example
 * originalQueue({ class: 'A', queue: 'lambda.A', routed_from: 'low' }, view) // 'low'
 */
export function originalQueue(job: Pick<JobPayload, 'class' | 'wrapped' | 'queue'> & Record<string, unknown>, view: RoutingView): string {
  const from = job[ROUTED_FROM];
  if (typeof from === 'string' && from !== '') return from;
  const d = view.declared.get(routedClass(job));
  const q = typeof job.queue === 'string' && job.queue !== '' ? job.queue : 'default';
  return d && d.shared && q === d.lambdaQueue ? d.queue : q;
}

/**
 * The payload as it waits on the Lambda side: `queue` set to the Lambda queue, `routed_from` appended (Ruby's
 * Hash#[]= order); every other byte kept.
 *
 * @example
 * markPayload('{"queue":"default","class":"A"}', 'lambda.A', 'default') // '{"queue":"lambda.A","class":"A","routed_from":"default"}'
 */
export function markPayload(raw: string, lambdaQueue: string, from: string): string {
  return withFields(raw, { queue: lambdaQueue, [ROUTED_FROM]: from });
}

/**
 * The payload as it waits on Ruby's side: `queue` set back, `routed_from` removed; every other byte kept.
 *
 * @example
 * unmarkPayload('{"queue":"lambda.A","class":"A","routed_from":"default"}', 'default') // '{"queue":"default","class":"A"}'
 */
export function unmarkPayload(raw: string, queue: string): string {
  return withFields(raw, { queue, [ROUTED_FROM]: undefined });
}

/** Where a waiting job should be: leave it, hold it, or move it (to `queue`, with `payload`). */
export type Placement =
  | { readonly kind: 'stay' }
  | { readonly kind: 'hold'; readonly payload: string }
  | { readonly kind: 'move'; readonly queue: string; readonly payload: string; readonly side: 'ruby' | 'lambda' };

/**
 * Where a job found in `where` (a queue name, or `held`) belongs under the current view. A job on
 * its right side stays; a job the table sends to the other side moves there, marked or unmarked;
 * a paused class's job is held (unmarked, so a resume can send it anywhere). A class routed to
 * Lambda that no poller declares stays where it is: nothing could run it on Lambda.
 *
 * @example
 * placement(view, { raw, job }, 'default') // { kind: 'move', queue: 'lambda.TrackUserJob', payload: '…"routed_from":"default"}', side: 'lambda' }
 */
export function placement(view: RoutingView, j: { readonly raw: string; readonly job: JobPayload }, where: string | 'held'): Placement {
  const cls = routedClass(j.job);
  const decision = decideJob(view.routes, j.job);
  const original = originalQueue(j.job, view);
  const marked = typeof j.job[ROUTED_FROM] === 'string';
  if (decision === 'unrouted') return where === 'held' ? { kind: 'move', queue: original, payload: marked ? unmarkPayload(j.raw, original) : j.raw, side: 'ruby' } : { kind: 'stay' };
  if (decision === 'hold') return where === 'held' ? { kind: 'stay' } : { kind: 'hold', payload: marked ? unmarkPayload(j.raw, original) : j.raw };
  const decl = view.declared.get(cls);
  if (decision === 'lambda' && decl) {
    if (where === decl.lambdaQueue) return { kind: 'stay' };
    const payload = original === decl.lambdaQueue ? j.raw : markPayload(j.raw, decl.lambdaQueue, original);
    return { kind: 'move', queue: decl.lambdaQueue, payload, side: 'lambda' };
  }
  if (decision === 'lambda' && where !== 'held') return { kind: 'stay' };
  if (where === original && !marked) return { kind: 'stay' };
  return { kind: 'move', queue: original, payload: marked ? unmarkPayload(j.raw, original) : j.raw, side: 'ruby' };
}

/**
 * Where a job already rendered for enqueueing goes — a handler's enqueues and a unique-lock
 * reschedule (written by the poller with the job's acknowledgement), a cron fire — as the Ruby
 * client middleware (`Placement.at_enqueue`) and the producer's `push` send it: a routed class's
 * Lambda share to its Lambda queue, marked with the queue it was enqueued for; a marked job the
 * table sends to Ruby back to its queue, unmarked; anything else as rendered (a paused class's job
 * is held by whoever fetches it). A scheduled job keeps its time; only its payload changes.
 *
 * @example
 * enqueuePlacement(view, { queue: 'default', payload: '{"class":"A","queue":"default",…}' }) // { queue: 'lambda.A', payload: '{"class":"A","queue":"lambda.A",…,"routed_from":"default"}' }
 */
export function enqueuePlacement(view: RoutingView, e: Enqueue): Enqueue {
  if (view.routes.size === 0) return e;
  const r = readJob(e.payload);
  if ('reason' in r || !view.routes.has(routedClass(r.job))) return e;
  const from = r.job[ROUTED_FROM];
  const marked = typeof from === 'string' && from !== '';
  const queue = e.queue ?? r.job.queue ?? 'default';
  let to: string;
  let payload: string;
  const decision = decideJob(view.routes, r.job);
  const decl = view.declared.get(routedClass(r.job));
  if (decision === 'lambda' && decl && queue !== decl.lambdaQueue) [to, payload] = [decl.lambdaQueue, markPayload(e.payload, decl.lambdaQueue, marked ? from : queue)];
  else if (decision === 'ruby' && marked) [to, payload] = [from, unmarkPayload(e.payload, from)];
  else return e;
  return e.queue === undefined ? { at: e.at, payload } : { queue: to, payload };
}

/**
 * What becomes of a `schedule` or `retry` entry under the current view: it keeps its score and is
 * rewritten in place to the side it will run on, so it is promoted straight there. A paused or
 * unrouted class's entries stay as they are (whoever fetches them decides).
 *
 * @example
 * entryPlacement(view, { raw, job }) // { kind: 'rewrite', payload: '…"queue":"lambda.TrackUserJob",…"routed_from":"default"}' }
 */
export function entryPlacement(view: RoutingView, j: { readonly raw: string; readonly job: JobPayload }): { readonly kind: 'stay' } | { readonly kind: 'rewrite'; readonly payload: string } {
  const p = placement(view, j, 'held');
  if (p.kind !== 'move') return { kind: 'stay' };
  if (decideRoute(view.routes, routedClass(j.job), jidDraw(String(j.job.jid ?? ''))) === 'unrouted') return { kind: 'stay' };
  return p.payload === j.raw ? { kind: 'stay' } : { kind: 'rewrite', payload: p.payload };
}
