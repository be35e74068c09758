/**
 * `sidekiq-lambda route`: move a job class between Ruby and Lambda, gradually and reversibly.
 *
 * Tasks:
 * 1. List every routed or declared class: its route, its jobs waiting on each side (and held),
 *    and the last hour's processed / failed / average duration on each side.
 * 2. Change a route (`--lambda 10%`, `--ruby`, `--pause`, `--resume`, `--forget`), recorded in the
 *    change log with who and when; refuse a Lambda share for a class no poller declares, and a Ruby
 *    share for a class whose queue the poller drains, saying what to do instead.
 * 3. Then, once every process has the new route (the cache time), migrate the class's waiting
 *    jobs to their side, or release its held jobs (lib/routing/migrate.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { hostname, userInfo } from 'node:os';
import type { Redis } from 'ioredis';
import { connect, ready } from '../redis/connection.js';
import { redisUrlOf, ROUTE_CACHE_MS } from '../config.js';
import { keys as makeKeys, type Keys } from '../protocol/keys.js';
import { describeRoute, parsePercent, type RoutingView } from '../protocol/routing.js';
import { changeRoute, isFresh, loadView, nextEntry, routeLog, type RouteChangeRecord, type RouteRequest } from '../routing/table.js';
import { countJobs, migrateClass, type ClassCounts, type MigrationResult } from '../routing/migrate.js';
import { readSideStats, type SideFigures } from '../routing/stats.js';
import { processIo, UsageError, type Io } from './ops.js';

export const ROUTE_HELP = `Usage: sidekiq-lambda route [CLASS] [change] [options]

  route                       every routed or declared class: its route, jobs waiting per side, the last hour per side
  route C                     one class, with its latest changes
  route C --lambda 10%        about 10% of C's jobs run on Lambda, the rest in Ruby
  route C --lambda 100%       all of C on Lambda; C's jobs waiting in Ruby move to Lambda
  route C --ruby              all of C in Ruby (roll back); C's jobs waiting on Lambda move back
  route C --pause             run C nowhere: its jobs are held (and counted) until it resumes
  route C --resume            run C again as it was routed; its held jobs run, in order
  route C --forget            remove C's route: it runs where its queue is drained, as before routing
  route --log [C]             the latest changes (who, when, what)

Options:
  --by NAME          who makes the change, for the log (default: user@host)
  --no-migrate       change the route only; jobs already waiting move as they are fetched
  --json             machine-readable output
  --redis URL        default REDIS_URL, else redis://127.0.0.1:6379/0
  --namespace NS     redis-namespace prefix (Sidekiq 6)
  -h, --help

A change takes effect in every poller, producer and Ruby process within ${ROUTE_CACHE_MS / 1000} s.`;

/** Who makes a change when `--by` is not given: `user@host`. */
function defaultBy(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `cli@${hostname()}`;
  }
}


/**
 * Why `req` is refused for `cls`, or undefined: a Lambda share for a class no running poller declares, a
 * Ruby share for a class whose queue the poller drains.
 *
 * @example
 * refusal(view, 'NewJob', { percent: 10 }, Date.now()) // "NewJob cannot run on Lambda: no running poller declares it. …"
 */
export function refusal(view: RoutingView, cls: string, req: RouteRequest, now: number): string | undefined {
  if (!('percent' in req)) return undefined;
  const d = view.declared.get(cls);
  if (req.percent > 0 && !isFresh(d, now)) {
    const last = d ? ` (it was last declared by ${d.by} at ${new Date(d.at).toISOString()})` : '';
    return (
      `${cls} cannot run on Lambda: no running poller declares it${last}. Declare it in sidekiq-lambda.config.ts — ` +
      `{ class: '${cls}', queue: '<its Sidekiq queue>', shared: true, entry: 'functions/<file>.ts' } — deploy the poller, then route it again`
    );
  }
  if (req.percent < 100 && d && !d.shared) {
    return (
      `${cls} runs only on Lambda: its queue ${d.queue} is drained by the poller, so Ruby never sees its jobs. ` +
      `Declare it with shared: true (and let Ruby drain ${d.queue}), deploy the poller, then route a share of it to Ruby`
    );
  }
  return undefined;
}

/** The share a class runs on Lambda without a route: 100% when the poller drains its queue, else 0%. */
function unroutedPercent(view: RoutingView, cls: string): number {
  const d = view.declared.get(cls);
  return d && !d.shared ? 100 : 0;
}

function requestOf(v: Record<string, unknown>): RouteRequest | undefined {
  const asked = (['lambda', 'ruby', 'pause', 'resume', 'forget'] as const).filter((k) => v[k] !== undefined && v[k] !== false);
  if (asked.length > 1) throw new UsageError(`give one change at a time, not ${asked.map((a) => `--${a}`).join(' and ')}`);
  const a = asked[0];
  if (a === undefined) return undefined;
  if (a === 'lambda') {
    try {
      return { percent: parsePercent(String(v.lambda)) };
    } catch (e) {
      throw new UsageError(`--lambda: ${(e as Error).message}`);
    }
  }
  if (a === 'ruby') return { percent: 0 };
  if (a === 'pause') return { pause: true };
  if (a === 'resume') return { resume: true };
  return { forget: true };
}

function fmtSide(s: { queued: number; scheduled: number; retries: number }): string {
  return `${s.queued} queued, ${s.scheduled} scheduled, ${s.retries} retrying`;
}

function fmtFigures(s: SideFigures | undefined): string {
  if (!s || s.processed === 0) return 'nothing run';
  return `${s.processed} processed, ${s.failed} failed, ${s.avgMs === undefined ? 'no success' : `avg ${s.avgMs} ms`}`;
}

function fmtMigration(r: MigrationResult): string {
  return `moved ${r.toLambda} waiting jobs to Lambda and ${r.toRuby} to Ruby; rewrote ${r.rewritten} scheduled/retry entries${r.missed ? ` (${r.missed} were fetched meanwhile and routed by whoever fetched them)` : ''}`;
}

/** The classes `route` lists: every class with a route, and every class a running poller declares. */
function listed(view: RoutingView, now: number): string[] {
  const set = new Set(view.routes.keys());
  for (const [c, d] of view.declared) if (isFresh(d, now)) set.add(c);
  return [...set].sort();
}

async function list(redis: Redis, keys: Keys, io: Io, classes: string[] | undefined, json: boolean): Promise<number> {
  const now = Date.now();
  const view = await loadView(redis, keys);
  const names = classes ?? listed(view, now);
  const [counts, stats] = await Promise.all([countJobs(redis, keys, view, names), readSideStats(redis, keys, now)]);
  const logs = classes ? await routeLog(redis, keys, classes[0], 10) : [];
  const rows = names.map((c) => {
    const e = view.routes.get(c);
    const d = view.declared.get(c);
    return { class: c, route: describeRoute(e), percent: e?.percent, paused: e?.paused ?? false, by: e?.by, at: e?.at, declared: isFresh(d, now) ? d : undefined, waiting: counts.get(c)!, lastHour: stats.get(c) };
  });
  if (json) {
    io.out(JSON.stringify(classes ? { ...rows[0], log: logs } : rows));
    return 0;
  }
  if (rows.length === 0) io.out('no class is routed or declared (a poller publishes its declarations when it starts)');
  for (const r of rows) io.out(describeRow(r.class, r.route, r.by, r.at, r.declared !== undefined, r.percent, r.waiting, r.lastHour));
  if (logs.length > 0) io.out(['latest changes:', ...logs.map(fmtChange)].join('\n'));
  return 0;
}

function describeRow(cls: string, route: string, by: string | undefined, at: number | undefined, declared: boolean, percent: number | undefined, w: ClassCounts, h: { ruby: SideFigures; lambda: SideFigures } | undefined): string {
  const changed = at ? `  (set ${new Date(at).toISOString()} by ${by})` : '';
  const warn = !declared && (percent ?? 0) > 0 ? `\n  warning: no running poller declares ${cls}: its Lambda share waits until one does` : '';
  const partial = w.partial ? ' (at least; a long queue was read in part)' : '';
  return [
    `${cls}  ${route}${changed}${warn}`,
    `  waiting    ruby: ${fmtSide(w.ruby)}${partial}   lambda: ${fmtSide(w.lambda)}   held: ${w.held}`,
    `  last hour  ruby: ${fmtFigures(h?.ruby)}   lambda: ${fmtFigures(h?.lambda)}`,
  ].join('\n');
}

function fmtChange(r: RouteChangeRecord): string {
  return `  ${new Date(r.at).toISOString()}  ${r.class}: ${r.from} → ${r.to}  by ${r.by}`;
}

/**
 * Changes a route, then (unless told not to) migrates the class's waiting jobs once every process has the route.
 *
 * @example
 * await applyRoute(redis, keys(), 'TrackUserJob', { percent: 0 }, { by: 'alice', migrate: true, io: processIo });
 */
export async function applyRoute(
  redis: Redis,
  keys: Keys,
  cls: string,
  req: RouteRequest,
  opts: { by: string; migrate: boolean; io: Io; json?: boolean; waitMs?: number },
): Promise<number> {
  const now = Date.now();
  const view = await loadView(redis, keys);
  const refused = refusal(view, cls, req, now);
  if (refused) throw new Error(refused);
  const next = nextEntry(view.routes.get(cls), req, opts.by, now, unroutedPercent(view, cls));
  const { before } = await changeRoute(redis, keys, cls, next, opts.by, now);
  if (!opts.json) opts.io.out(`${cls}: ${next ? describeRoute(next) : 'unrouted'} (was ${describeRoute(before)}), by ${opts.by}; every process applies it within ${ROUTE_CACHE_MS / 1000} s`);
  let migrated: MigrationResult | undefined;
  if (opts.migrate && !(next?.paused ?? false)) {
    // Let every process's cache take the new route first, so nothing sends a moved job back.
    await sleep(opts.waitMs ?? ROUTE_CACHE_MS + 500);
    migrated = await migrateClass({ redis, keys }, cls);
    if (!opts.json) opts.io.out(`${cls}: ${fmtMigration(migrated)}`);
  } else if (!opts.json && next?.paused) opts.io.out(`${cls}: paused; its jobs are held as they are fetched (see \`sidekiq-lambda route ${cls}\`); \`--resume\` runs them, in order`);
  if (opts.json) opts.io.out(JSON.stringify({ class: cls, before: before ?? null, after: next ?? null, migrated: migrated ?? null }));
  return 0;
}

/**
 * `sidekiq-lambda route …`
 *
 * @example
 * await routeCommand()(['TrackUserJob', '--lambda', '10%']);
 */
export function routeCommand(io: Io = processIo): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        lambda: { type: 'string' },
        ruby: { type: 'boolean' },
        pause: { type: 'boolean' },
        resume: { type: 'boolean' },
        forget: { type: 'boolean' },
        log: { type: 'boolean' },
        by: { type: 'string' },
        'no-migrate': { type: 'boolean' },
        json: { type: 'boolean' },
        redis: { type: 'string' },
        namespace: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(ROUTE_HELP);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`one class at a time, got ${positionals.join(' ')}`);
    const cls = positionals[0];
    const req = requestOf(values);
    if (req && !cls) throw new UsageError('name the class to route, e.g. `sidekiq-lambda route TrackUserJob --lambda 10%`');
    const url = values.redis ?? redisUrlOf(process.env);
    const redis = connect(url, { profile: 'producer', name: 'sidekiq-lambda-route' });
    try {
      await ready(redis, url);
      const keys = makeKeys(values.namespace);
      if (values.log) {
        const log = await routeLog(redis, keys, cls, 50);
        if (values.json) io.out(JSON.stringify(log));
        else io.out(log.length === 0 ? 'no changes recorded' : log.map(fmtChange).join('\n'));
        return 0;
      }
      if (!req) return await list(redis, keys, io, cls ? [cls] : undefined, values.json ?? false);
      return await applyRoute(redis, keys, cls!, req, { by: values.by ?? defaultBy(), migrate: !values['no-migrate'], io, json: values.json });
    } finally {
      redis.disconnect();
    }
  };
}
