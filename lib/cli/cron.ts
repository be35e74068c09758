/**
 * `sidekiq-lambda cron`: the periodic jobs in sidekiq-cron's keys — ours and Ruby's alike.
 *
 * Tasks:
 * 1. `cron` (or `cron list`): every entry with its status, expression, class, queue, last run and
 *    next run, as a table or `--json`.
 * 2. `cron enable <name>`, `cron disable <name>`: what the Web UI's Enable / Disable buttons do.
 * 3. `cron run <name>`: enqueue the entry's job now (the Web UI's Enqueue Now); prints the jid.
 */
import { parseArgs } from 'node:util';
import { Client } from '../client.js';
import { ENV, parseCronVersion, parseSidekiqVersion, redisUrlOf } from '../config.js';
import { nextFire } from '../protocol/cron.js';
import { cronKeys, keys as makeKeys } from '../protocol/keys.js';
import { connect, ready } from '../redis/connection.js';
import { findCronEntry, listCronEntries, resolveCronLayout, runCronEntry, setCronStatus, type CronStore, type ListedEntry } from '../sidekiq/cron.js';
import { processIo, UsageError, type Io } from './ops.js';

export const CRON_SUMMARY = 'periodic jobs (sidekiq-cron): cron [list] [--json] | cron enable|disable|run <name>';

const HELP = `Usage: sidekiq-lambda cron [list] [--json]
       sidekiq-lambda cron enable <name> | disable <name> | run <name>

Periodic jobs where sidekiq-cron keeps them — those declared in sidekiq-lambda.config.ts and Ruby's alike.
list shows each entry's status, expression, class, queue, last run and next run (UTC); enable and
disable do what the Web UI's buttons do; run enqueues the entry's job now and prints its jid.

  --cron-namespace NS  sidekiq-cron 2.x namespace of <name> (default "default"); list reads
                       SIDEKIQ_CRON_NAMESPACES (default "default") and this one
  --cron-version 1|2   sidekiq-cron's major version: its key layout (default SIDEKIQ_CRON_VERSION, else detected)
  --json               list as JSON
  --redis URL          default REDIS_URL, else redis://127.0.0.1:6379/0
  --namespace NS       redis-namespace prefix (Sidekiq 6)
  --sidekiq-version    6 | 7 | 8: the oldest Sidekiq reading this Redis (default 7)
  -h, --help`;

/** `2024-03-09 10:05:03 UTC`, or `-`. */
const when = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC'));

function nextRun(e: ListedEntry, now: number): number | undefined {
  if (!e.expr) return undefined;
  try {
    return nextFire(e.expr, new Date(now)).getTime();
  } catch {
    return undefined;
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Runs `sidekiq-lambda cron …`; `io` and `now` are injectable for tests. */
export async function cronCommand(argv: string[], io: Io = processIo, now: () => number = Date.now): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      'cron-namespace': { type: 'string' },
      'cron-version': { type: 'string' },
      json: { type: 'boolean' },
      redis: { type: 'string' },
      namespace: { type: 'string' },
      'sidekiq-version': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [action = 'list', name, ...extra] = positionals;
  if (!['list', 'enable', 'disable', 'run'].includes(action)) throw new UsageError(`unknown cron action "${action}": list, enable, disable or run`);
  if (action !== 'list' && !name) throw new UsageError(`cron ${action} needs the entry's name`);
  if (extra.length > 0 || (action === 'list' && name)) throw new UsageError(`unexpected argument "${extra.at(-1) ?? name}"`);
  const cronNs = values['cron-namespace'] ?? 'default';
  const sidekiqVersion = parseSidekiqVersion(values['sidekiq-version']);
  const configured = parseCronVersion(values['cron-version'] ?? process.env[ENV.cronVersion]);
  const fromEnv = (process.env[ENV.cronNamespaces] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const namespaces = [...new Set([...(fromEnv.length > 0 ? fromEnv : ['default']), cronNs])];

  const url = values.redis ?? redisUrlOf(process.env);
  const redis = connect(url, { profile: 'producer', name: 'sidekiq-lambda-cron' });
  try {
    await ready(redis, url);
    const keys = makeKeys(values.namespace);
    const { layout, reason } = await resolveCronLayout(redis, keys, { configured, sidekiqVersion, namespaces });
    const client = new Client({ redis, namespace: values.namespace, sidekiqVersion, now });
    const store: CronStore = { redis, keys, cron: cronKeys(keys, layout), namespaces, client };
    const label = `"${name}"${layout === 2 ? ` in namespace ${cronNs}` : ''}`;
    if (action === 'list') return await list(store, values.json === true, `sidekiq-cron ${layout}.x keys (${reason})`, io, now());
    if (action === 'run') {
      const r = await runCronEntry(store, name!, cronNs);
      if (!r) return missing(io, label);
      if (r.status !== 'pushed') throw new Error(`cron entry ${label} was not enqueued: ${r.status}`);
      io.out(r.jid!);
      return 0;
    }
    const status = action === 'enable' ? 'enabled' : 'disabled';
    if (!(await setCronStatus(store, name!, status, cronNs))) return missing(io, label);
    const e = await findCronEntry(store, name!, cronNs);
    io.out(`${e?.stored.name ?? name} ${status}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

function missing(io: Io, label: string): number {
  io.err(`no cron entry ${label}: \`sidekiq-lambda cron\` lists them`);
  return 1;
}

async function list(store: CronStore, json: boolean, layout: string, io: Io, now: number): Promise<number> {
  const entries = await listCronEntries(store);
  const rows = entries.map((e) => ({
    name: e.stored.name,
    namespace: e.stored.namespace ?? null,
    status: e.stored.status,
    cron: e.stored.cron,
    class: e.stored.klass,
    queue: e.stored.queue,
    lastRun: e.stored.lastEnqueueMs,
    nextRun: nextRun(e, now),
    declared: e.stored.declared,
    problem: e.stored.problem ?? e.exprProblem ?? null,
  }));
  if (json) {
    io.out(JSON.stringify(rows.map((r) => ({ ...r, lastRun: r.lastRun === undefined ? null : new Date(r.lastRun).toISOString(), nextRun: r.nextRun === undefined ? null : new Date(r.nextRun).toISOString() }))));
    return 0;
  }
  io.err(layout);
  if (rows.length === 0) {
    io.out('no cron entries');
    return 0;
  }
  const ns = store.cron.layout === 2;
  const header = ['NAME', ...(ns ? ['NAMESPACE'] : []), 'STATUS', 'CRON', 'CLASS', 'QUEUE', 'LAST RUN', 'NEXT RUN', 'FROM'];
  const body = rows.map((r) => [
    r.name,
    ...(ns ? [r.namespace ?? 'default'] : []),
    r.status,
    r.cron,
    r.class,
    r.queue,
    when(r.lastRun),
    r.problem ? '? (below)' : when(r.nextRun),
    r.declared ? 'sidekiq-lambda.config.ts' : 'Ruby',
  ]);
  for (const line of table([header, ...body])) io.out(line);
  const notes = rows.filter((r) => r.problem);
  if (notes.length > 0) io.out('');
  for (const r of notes) io.out(`${r.name}: not fired by sidekiq-lambda (Ruby's sidekiq-cron may fire it): ${r.problem}`);
  return 0;
}
