/**
 * Migration: after a route changes, bring one class's waiting jobs to the side the table now sends
 * them to — queued, scheduled and retrying — each job atomically, safe while Ruby processes,
 * pollers and other migrations run. A resume releases the held jobs the same way, in order.
 *
 * Tasks:
 * 1. Scan the class's queues (its Lambda queue, the Ruby queue it shares) and its held list in
 *    chunks, decide each job's place (`placement`, the same rule as at fetch), and move the
 *    misplaced ones with move-2n.lua.
 * 2. Rewrite the class's `schedule` and `retry` entries in place (rewrite-1.lua), so they are
 *    promoted straight to their side.
 * 3. Count a class's jobs per side (`countJobs`) for `route` and its listing.
 *
 * Why this is safe with everything else running: the scan reads (LRANGE, ZSCAN) take nothing; each
 * move removes the job by its exact bytes and pushes it in the same script, so a job popped,
 * promoted or moved by someone else meanwhile is simply not found. A scan that misses a job (the
 * list shifted under it) loses nothing either: whoever fetches the job routes it by the same rule
 * (Ruby's middleware, the poller's router). A migration killed midway leaves every job whole, on
 * one side or the other; running it again finishes it.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { readJob } from '../protocol/job.js';
import { entryPlacement, placement, routedClass, ROUTED_FROM, type RoutingView } from '../protocol/routing.js';
import { registerScripts } from '../redis/scripts.js';
import { loadView } from './table.js';

export interface MigrationContext {
  readonly redis: Redis;
  readonly keys: Keys;
  /** Called after each chunk with the jobs moved or rewritten so far. */
  readonly progress?: (done: number) => void;
  /** @defaultValue 500 — jobs read per round trip. */
  readonly chunk?: number;
  /** Checked between chunks: stop early (a migration can always be run again). */
  readonly shouldStop?: () => boolean;
}

export interface MigrationResult {
  /** Queued or held jobs moved to the Lambda side, to the Ruby side. */
  toLambda: number;
  toRuby: number;
  /** `schedule` / `retry` entries rewritten to their side. */
  rewritten: number;
  /** Jobs found misplaced but gone before they could be moved (fetched meanwhile). */
  missed: number;
}

/** The lists a class's jobs wait in: its Lambda queue, the Ruby queue it shares, its held list. */
function listsOf(view: RoutingView, keys: Keys, cls: string): { key: string; where: string }[] {
  const d = view.declared.get(cls);
  const lists: { key: string; where: string }[] = [];
  if (d) lists.push({ key: keys.queue(d.lambdaQueue), where: d.lambdaQueue });
  if (d?.shared) lists.push({ key: keys.queue(d.queue), where: d.queue });
  lists.push({ key: keys.held(cls), where: 'held' });
  return lists;
}

/**
 * Moves every waiting job of `cls` to where the routing table now sends it. Jobs of a paused class
 * stay where they are (whoever fetches one holds it); its held jobs are released when it resumes
 * (or when its route is removed: they go back to their Ruby queue).
 *
 * @example
 * await changeRoute(redis, keys, 'TrackUserJob', { percent: 0, paused: false, by, at }, by, at);
 * const r = await migrateClass({ redis, keys }, 'TrackUserJob'); // { toRuby: 120, rewritten: 7, … }
 */
export async function migrateClass(ctx: MigrationContext, cls: string, view?: RoutingView): Promise<MigrationResult> {
  registerScripts(ctx.redis);
  const v = view ?? (await loadView(ctx.redis, ctx.keys));
  const result: MigrationResult = { toLambda: 0, toRuby: 0, rewritten: 0, missed: 0 };
  for (const list of listsOf(v, ctx.keys, cls)) {
    if (ctx.shouldStop?.()) break;
    await migrateList(ctx, v, cls, list, result);
  }
  for (const set of [ctx.keys.schedule, ctx.keys.retry]) {
    if (ctx.shouldStop?.()) break;
    await migrateSet(ctx, v, cls, set, result);
  }
  return result;
}

/**
 * Releases a class's held jobs to where the table now sends them, in their order (a resume). Held
 * jobs of a class still paused stay. Returns the number released.
 *
 * @example
 * await releaseHeld({ redis, keys: keys() }, 'TrackUserJob') // 120
 */
export async function releaseHeld(ctx: MigrationContext, cls: string, view?: RoutingView): Promise<number> {
  return (await releaseAllHeld(ctx, [cls], view)).get(cls) ?? 0;
}

/**
 * Releases the held jobs of each of `classes` not paused, as `releaseHeld` does: one pipelined LLEN
 * of all their held lists, then only the non-empty ones are read and moved (a poller sweeps every
 * declared class every 30 s, and nearly always finds nothing). Returns the number released per class
 * that released any.
 *
 * @example
 * await releaseAllHeld({ redis, keys: keys() }, ['TrackUserJob', 'OtherJob'], view) // Map { 'TrackUserJob' => 120 }
 */
export async function releaseAllHeld(ctx: MigrationContext, classes: readonly string[], view?: RoutingView): Promise<Map<string, number>> {
  registerScripts(ctx.redis);
  const v = view ?? (await loadView(ctx.redis, ctx.keys));
  const released = new Map<string, number>();
  const resumed = classes.filter((c) => v.routes.get(c)?.paused !== true);
  if (resumed.length === 0) return released;
  const p = ctx.redis.pipeline();
  for (const c of resumed) p.llen(ctx.keys.held(c));
  const lens = (await p.exec()) ?? [];
  for (const [i, cls] of resumed.entries()) {
    const [err, n] = lens[i] ?? [null, 0];
    if (err) throw err;
    if (Number(n) === 0) continue;
    const result: MigrationResult = { toLambda: 0, toRuby: 0, rewritten: 0, missed: 0 };
    await migrateList(ctx, v, cls, { key: ctx.keys.held(cls), where: 'held' }, result);
    if (result.toLambda + result.toRuby > 0) released.set(cls, result.toLambda + result.toRuby);
  }
  return released;
}

async function migrateList(ctx: MigrationContext, view: RoutingView, cls: string, list: { key: string; where: string }, result: MigrationResult): Promise<void> {
  const chunk = ctx.chunk ?? 500;
  // From the left (newest) to the right: jobs pushed meanwhile shift the list right (read again,
  // harmlessly); jobs fetched meanwhile leave from the right (no shift of what is still ahead);
  // our own moves shift what follows left by the number moved.
  for (let offset = 0; !ctx.shouldStop?.(); ) {
    const raws = await ctx.redis.lrange(list.key, offset, offset + chunk - 1);
    if (raws.length === 0) break;
    const dests = new Map<string, { index: number; name: string; side: 'ruby' | 'lambda' }>();
    const triples: (string | number)[] = [];
    const sides: ('ruby' | 'lambda')[] = [];
    for (const raw of raws) {
      const r = readJob(raw);
      if ('reason' in r || routedClass(r.job) !== cls) continue;
      const p = placement(view, r, list.where);
      if (p.kind !== 'move') continue;
      let d = dests.get(p.queue);
      if (!d) dests.set(p.queue, (d = { index: dests.size + 1, name: p.queue, side: p.side }));
      triples.push(raw, d.index, p.payload);
      sides.push(p.side);
    }
    let moved = 0;
    if (triples.length > 0) {
      const names = [...dests.values()];
      const keyArgs = [list.key, ctx.keys.queues, ...names.map((d) => ctx.keys.queue(d.name))];
      const statuses = await ctx.redis.sklMove_v2(keyArgs.length, ...keyArgs, names.length, ...names.map((d) => d.name), ...triples);
      statuses.forEach((s, i) => {
        if (Number(s) === 1) {
          moved++;
          if (sides[i] === 'lambda') result.toLambda++;
          else result.toRuby++;
        } else result.missed++;
      });
      ctx.progress?.(result.toLambda + result.toRuby + result.rewritten);
    }
    offset += raws.length - moved;
  }
}

async function migrateSet(ctx: MigrationContext, view: RoutingView, cls: string, set: string, result: MigrationResult): Promise<void> {
  let cursor = '0';
  do {
    const [next, flat] = await ctx.redis.zscan(set, cursor, 'COUNT', ctx.chunk ?? 500);
    cursor = next;
    const pairs: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const raw = flat[i]!;
      const r = readJob(raw);
      if ('reason' in r || routedClass(r.job) !== cls) continue;
      const p = entryPlacement(view, r);
      if (p.kind === 'rewrite') pairs.push(raw, p.payload);
    }
    if (pairs.length > 0) {
      const statuses = await ctx.redis.sklRewrite_v1(set, ...pairs);
      for (const s of statuses) {
        if (Number(s) === 1) result.rewritten++;
        else result.missed++;
      }
      ctx.progress?.(result.toLambda + result.toRuby + result.rewritten);
    }
  } while (cursor !== '0' && !ctx.shouldStop?.());
}

/** One side's waiting jobs of a class. */
export interface SideCounts {
  queued: number;
  scheduled: number;
  retries: number;
}

export interface ClassCounts {
  ruby: SideCounts;
  lambda: SideCounts;
  /** Held while paused. */
  held: number;
  /** True when a list or set was larger than the scan limit: the Ruby-side figures are lower bounds. */
  partial: boolean;
}

/**
 * Counts each class's waiting jobs per side: on its Lambda queue (its length), on the Ruby queue it
 * shares, in `schedule` and `retry` (marked entries are Lambda's), and held. Lists and sets are
 * read up to `limit` entries each.
 *
 * @example
 * (await countJobs(redis, keys(), view, ['TrackUserJob'])).get('TrackUserJob')
 * // { ruby: { queued: 3, scheduled: 0, retries: 1 }, lambda: { queued: 1, … }, held: 0, partial: false }
 */
export async function countJobs(redis: Redis, keys: Keys, view: RoutingView, classes: readonly string[], limit = 10_000): Promise<Map<string, ClassCounts>> {
  const out = new Map<string, ClassCounts>(classes.map((c) => [c, { ruby: { queued: 0, scheduled: 0, retries: 0 }, lambda: { queued: 0, scheduled: 0, retries: 0 }, held: 0, partial: false }]));
  const wanted = new Set(classes);
  const p = redis.pipeline();
  for (const c of classes) p.llen(keys.held(c));
  const declared = classes.filter((c) => view.declared.has(c));
  for (const c of declared) p.llen(keys.queue(view.declared.get(c)!.lambdaQueue));
  const lens = ((await p.exec()) ?? []).map(([, n]) => Number(n ?? 0));
  classes.forEach((c, i) => (out.get(c)!.held = lens[i]!));
  declared.forEach((c, i) => (out.get(c)!.lambda.queued = lens[classes.length + i]!));
  const tally = (raw: string, bump: (c: ClassCounts, marked: boolean) => void): void => {
    const r = readJob(raw);
    if ('reason' in r) return;
    const cls = routedClass(r.job);
    if (wanted.has(cls)) bump(out.get(cls)!, typeof r.job[ROUTED_FROM] === 'string');
  };
  const rubyQueues = new Set(classes.flatMap((c) => (view.declared.get(c)?.shared ? [view.declared.get(c)!.queue] : [])));
  for (const q of rubyQueues) {
    const raws = await redis.lrange(keys.queue(q), 0, limit - 1);
    const partial = raws.length >= limit;
    for (const raw of raws) tally(raw, (c, marked) => (marked ? c.lambda.queued++ : c.ruby.queued++));
    if (partial) for (const c of classes) if (view.declared.get(c)?.queue === q) out.get(c)!.partial = true;
  }
  for (const [set, field] of [[keys.schedule, 'scheduled'], [keys.retry, 'retries']] as const) {
    const raws = await redis.zrange(set, 0, limit - 1);
    for (const raw of raws) tally(raw, (c, marked) => (marked ? c.lambda[field]++ : c.ruby[field]++));
    if (raws.length >= limit) for (const c of out.values()) c.partial = true;
  }
  return out;
}
