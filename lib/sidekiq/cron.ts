/**
 * sidekiq-cron's entries in Redis, shared with Ruby (sidekiq-protocol.md §13.2): the one module
 * that reads and writes them.
 *
 * Tasks:
 * 1. Pick the key layout, sidekiq-cron 1.x or 2.x (`resolveCronLayout`): as configured, else by
 *    what Redis holds, else by the Sidekiq version.
 * 2. List every entry, Ruby's included, with its parsed expression (`listCronEntries`).
 * 3. Write the declared entries where and as sidekiq-cron keeps them, and remove ours that are no
 *    longer declared (`syncCronEntries`) — never an entry Ruby owns, never the status or last run.
 * 4. Enable, disable (`setCronStatus`) and enqueue now (`runCronEntry`), as the Web UI's buttons do.
 * 5. Fire one entry for one fire time, at most once across every poller (`fireCronEntry`), to
 *    the side the routing table sends its class to.
 */
import type { Redis } from 'ioredis';
import type { Client } from '../client.js';
import type { Logger } from '../log.js';
import { storedCron, type CronEntry } from '../periodic.js';
import { CronError, parseCron, previousFire, type CronExpression } from '../protocol/cron.js';
import {
  JID_HISTORY_SIZE,
  REMEMBER_SECONDS,
  entryFields,
  fireMember,
  fireScore,
  formatEnqueueTime,
  pushItemOf,
  readStoredEntry,
  type StoredEntry,
} from '../protocol/cron-entry.js';
import { cronKeys, type CronKeys, type CronLayout, type Keys } from '../protocol/keys.js';
import { floatSeconds, type EpochMs, type SidekiqVersion } from '../protocol/time.js';
import { enqueuePlacement, type RoutingView } from '../protocol/routing.js';
import { registerScripts } from '../redis/scripts.js';
import { loadView } from '../routing/table.js';

/** Where the entries are and how jobs are written. */
export interface CronStore {
  readonly redis: Redis;
  /** Sidekiq's keys (`queues`, `queue:<q>`), with the redis-namespace prefix. */
  readonly keys: Keys;
  readonly cron: CronKeys;
  /** The 2.x namespaces read and fired (sidekiq-cron's `available_namespaces`); 1.x has one set. */
  readonly namespaces: readonly string[];
  /** Renders each job exactly as the producer pushes it; its clock is the one firing uses. */
  readonly client: Client;
}

/** The layout and why it was chosen (logged, and shown by `sidekiq-lambda cron`). */
export interface ResolvedLayout {
  readonly layout: CronLayout;
  readonly reason: string;
}

/**
 * The layout to use: `configured` (SIDEKIQ_CRON_VERSION) when given; else 2 when a 2.x entries set
 * exists (`cron_jobs:<ns>`), 1 when the 1.x set does (`cron_jobs`; sidekiq-cron 2.x moves it on
 * start); else 1 for Sidekiq 6 (sidekiq-cron 2.x needs Sidekiq 6.5) and 2 otherwise.
 *
 * @example
 * await resolveCronLayout(redis, keys(), { sidekiqVersion: 6 }) // { layout: 1, reason: '…' } on an empty Redis
 */
export async function resolveCronLayout(
  redis: Redis,
  keys: Keys,
  opts: { configured?: CronLayout; sidekiqVersion?: SidekiqVersion; namespaces?: readonly string[] } = {},
): Promise<ResolvedLayout> {
  if (opts.configured) return { layout: opts.configured, reason: 'configured (SIDEKIQ_CRON_VERSION)' };
  const v2 = cronKeys(keys, 2);
  const namespaces = opts.namespaces ?? ['default'];
  const [found2, found1] = await Promise.all([redis.exists(...namespaces.map((ns) => v2.jobs(ns))), redis.exists(cronKeys(keys, 1).jobs(''))]);
  if (found2 > 0) return { layout: 2, reason: 'sidekiq-cron 2.x entries in Redis' };
  if (found1 > 0) return { layout: 1, reason: 'sidekiq-cron 1.x entries in Redis' };
  if (opts.sidekiqVersion === 6) return { layout: 1, reason: 'no entries yet; SIDEKIQ_VERSION=6 (sidekiq-cron 2.x needs Sidekiq 6.5)' };
  return { layout: 2, reason: 'no entries yet; sidekiq-cron 2.x assumed' };
}

/** One entry as read: what Ruby's `Job.all` sees, and our parse of its expression. */
export interface ListedEntry {
  readonly stored: StoredEntry;
  /** The hash as stored. */
  readonly fields: Readonly<Record<string, string>>;
  /** Our parse of `cron`; undefined when we do not fire it (see `exprProblem`). */
  readonly expr: CronExpression | undefined;
  /** Why we cannot fire this expression exactly as fugit does (Ruby's poller still can). */
  readonly exprProblem: string | undefined;
}

const parsed = new Map<string, CronExpression | CronError>();

/** Parses a stored expression once per process (entries are read every second). */
function parseStored(cron: string): CronExpression | CronError {
  let p = parsed.get(cron);
  if (!p) {
    try {
      p = parseCron(cron);
    } catch (e) {
      if (!(e instanceof CronError)) throw e;
      p = e;
    }
    if (parsed.size > 10_000) parsed.clear();
    parsed.set(cron, p);
  }
  return p;
}

/** The sets read: the 1.x set, or one per 2.x namespace. */
function entrySets(store: CronStore): string[] {
  return store.cron.layout === 1 ? [store.cron.jobs('')] : store.namespaces.map((ns) => store.cron.jobs(ns));
}

/**
 * Every entry in the sets read, as sidekiq-cron's `Job.all` returns them (empty hashes skipped).
 *
 * @example
 * for (const e of await listCronEntries(store)) console.log(e.stored.name, e.stored.status);
 */
export async function listCronEntries(store: CronStore): Promise<ListedEntry[]> {
  const members = (await Promise.all(entrySets(store).map((set) => store.redis.smembers(set)))).flat();
  if (members.length === 0) return [];
  const hashes = await Promise.all(members.map((m) => store.redis.hgetall(store.cron.hash(m))));
  const out: ListedEntry[] = [];
  members.forEach((key, i) => {
    const fields = hashes[i]!;
    if (Object.keys(fields).length === 0) return;
    const stored = readStoredEntry(key, fields);
    const p = stored.cron ? parseStored(stored.cron) : undefined;
    const expr = p instanceof CronError ? undefined : p;
    const exprProblem = p instanceof CronError ? p.message : p === undefined ? "'cron' must be set" : undefined;
    out.push({ stored, fields, expr, exprProblem });
  });
  return out.sort((a, b) => a.stored.name.localeCompare(b.stored.name));
}

/** What a sync did. */
export interface SyncResult {
  created: string[];
  updated: string[];
  removed: string[];
  /** Declared entries left alone: Ruby owns an entry of that name. */
  skipped: string[];
}

/**
 * Writes the declared entries as sidekiq-cron's `save` does — the hash, the set membership and,
 * for a new entry, its latest fire time marked as enqueued so that creating it does not fire it —
 * and destroys our entries that are no longer declared. An entry of the same name that Ruby wrote
 * is left alone (logged); `status` and `last_enqueue_time` of ours are never overwritten, so a
 * Disable from the Web UI or the CLI survives redeploys.
 */
export async function syncCronEntries(store: CronStore, entries: readonly CronEntry[], opts: { now: EpochMs; log?: Logger }): Promise<SyncResult> {
  const { redis, cron } = store;
  const result: SyncResult = { created: [], updated: [], removed: [], skipped: [] };
  const listed = new Map((await listCronEntries(store)).map((e) => [e.stored.key, e]));
  const wanted = new Set<string>();
  for (const entry of entries) {
    const key = cron.entry(entry.name, entry.namespace);
    if (wanted.has(key)) {
      opts.log?.error('cron: two declared entries share one key in sidekiq-cron 1.x (no namespaces); the second is skipped', { entry: entry.name, namespace: entry.namespace });
      continue;
    }
    wanted.add(key);
    const existing = listed.get(key) ?? (await hashOf(redis, cron.hash(key)));
    if (existing && !existing.stored.declared) {
      opts.log?.warn('cron: an entry of this name exists and was not declared here (Ruby owns it); left alone', { entry: entry.name, key });
      result.skipped.push(entry.name);
      continue;
    }
    const fields = entryFields(entry, storedCron(entry), cron.layout);
    const set = cron.jobs(entry.namespace);
    if (!existing) {
      // sidekiq-cron's `save`: mark the latest fire time as enqueued ("don't enqueue right after creation").
      const last = previousFire(parseCron(storedCron(entry)), new Date(opts.now));
      const m = redis.multi().hset(cron.hash(key), ...fields.flat(), 'status', 'enabled', 'last_enqueue_time', '').sadd(set, key);
      if ((await redis.exists(cron.enqueued(key))) === 0) m.zadd(cron.enqueued(key), floatSeconds(opts.now), fireMember(last));
      await m.exec();
      result.created.push(entry.name);
      continue;
    }
    const changed = fields.filter(([k, v]) => existing.fields[k] !== v);
    if (changed.length > 0 || !listed.has(key)) {
      await redis.multi().hset(cron.hash(key), ...(changed.length > 0 ? changed : fields).flat()).sadd(set, key).exec();
      result.updated.push(entry.name);
    }
  }
  for (const [key, e] of listed) {
    if (!e.stored.declared || wanted.has(key)) continue;
    await destroyCronEntry(store, e.stored);
    result.removed.push(e.stored.name);
  }
  return result;
}

async function hashOf(redis: Redis, key: string): Promise<{ stored: StoredEntry; fields: Record<string, string> } | undefined> {
  const fields = await redis.hgetall(key);
  return Object.keys(fields).length === 0 ? undefined : { stored: readStoredEntry(key, fields), fields };
}

/** sidekiq-cron's `destroy`: the set membership, the hash, its fire times and its jid history. */
export async function destroyCronEntry(store: CronStore, entry: Pick<StoredEntry, 'key' | 'namespace'>): Promise<void> {
  const { cron } = store;
  const set = cron.jobs(entry.namespace ?? 'default');
  await store.redis.multi().srem(set, entry.key).del(cron.hash(entry.key), cron.enqueued(entry.key), cron.jidHistory(entry.key)).exec();
}

/**
 * Finds an entry by name (and 2.x namespace) among those listed.
 *
 * @example
 * await findCronEntry(store, 'cleanup') // undefined when there is none
 */
export async function findCronEntry(store: CronStore, name: string, namespace = 'default'): Promise<ListedEntry | undefined> {
  const key = store.cron.entry(name, namespace);
  const h = await hashOf(store.redis, store.cron.hash(key));
  if (!h) return undefined;
  const p = h.stored.cron ? parseStored(h.stored.cron) : undefined;
  return { ...h, expr: p instanceof CronError ? undefined : p, exprProblem: p instanceof CronError ? p.message : p === undefined ? "'cron' must be set" : undefined };
}

/** Enables or disables an entry as its `enable!` / `disable!` do. False when there is no such entry. */
export async function setCronStatus(store: CronStore, name: string, status: 'enabled' | 'disabled', namespace = 'default'): Promise<boolean> {
  registerScripts(store.redis);
  return (await store.redis.sklCronStatus_v1(store.cron.hash(store.cron.entry(name, namespace)), status)) === 1;
}

/** The outcome of one fire: the script's status (cron-fire-5.lua) and the jid pushed. */
export interface FireResult {
  readonly status: 'pushed' | 'taken' | 'gone' | 'disabled' | 'changed' | 'not-a-list';
  readonly jid: string | undefined;
}

const STATUS: Record<string, FireResult['status']> = { '1': 'pushed', '0': 'taken', '-1': 'gone', '-2': 'disabled', '-3': 'changed', '-4': 'not-a-list' };

/**
 * Enqueues an entry's job: for fire time `at` (guarded: at most once across every poller, Ruby's
 * included; only while enabled and unchanged), or now by hand (`at` undefined: sidekiq-cron's
 * `enqueue!`, the Web UI's Enqueue Now). The payload is the producer's; throws its validation error.
 * It goes where the routing table sends it, as a push would (`view`, read here when not given).
 */
export async function fireCronEntry(store: CronStore, entry: StoredEntry, at: Date | undefined, view?: RoutingView): Promise<FireResult> {
  const { redis, cron, client } = store;
  registerScripts(redis);
  const now = client.now();
  const rendered = client.render(pushItemOf(entry, now, client.version));
  const placed = enqueuePlacement(view ?? (await loadView(redis, store.keys)), { queue: rendered.queue, payload: rendered.json });
  const job = { jid: rendered.jid, queue: placed.queue ?? rendered.queue, json: placed.payload };
  const enqueued = formatEnqueueTime(now);
  const history = JSON.stringify({ jid: job.jid, enqueued });
  const r = await redis.sklCronFire_v1(
    cron.hash(entry.key),
    cron.enqueued(entry.key),
    cron.jidHistory(entry.key),
    store.keys.queues,
    store.keys.queue(job.queue),
    at ? 'fire' : 'run',
    at ? fireScore(at) : '',
    at ? fireMember(at) : '',
    floatSeconds(now - REMEMBER_SECONDS * 1000),
    entry.cron,
    enqueued,
    history,
    JID_HISTORY_SIZE,
    job.queue,
    job.json,
  );
  const status = STATUS[String(r)] ?? 'gone';
  return { status, jid: status === 'pushed' ? job.jid : undefined };
}

/**
 * Enqueues an entry's job now (the CLI's `cron run`, the Web UI's Enqueue Now); undefined when
 * there is no such entry.
 */
export async function runCronEntry(store: CronStore, name: string, namespace = 'default'): Promise<FireResult | undefined> {
  const e = await findCronEntry(store, name, namespace);
  return e ? fireCronEntry(store, e.stored, undefined) : undefined;
}
