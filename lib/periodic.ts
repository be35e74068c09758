/**
 * Periodic jobs (cron entries) as the project declares them, beside the jobs in
 * `sidekiq-lambda.config.ts`, and carried to the scheduler.
 *
 * Tasks:
 * 1. Declare a periodic job: on a Lambda job (`cron: '0 6 * * *'` on its declaration, class and queue
 *    are the job's) or in `defineJobs`' separate `cron` list for any class, Ruby's included.
 * 2. Validate each entry with messages that name the entry and the field; a cron expression we do
 *    not fire exactly as fugit does is refused with the parser's message naming the part.
 * 3. Carry the entries through the environment — the CDK construct writes `SIDEKIQ_LAMBDA_CRON`
 *    on the scheduler function, the scheduler reads it — and prove the round trip in a test.
 *
 * Opens no connection and imports no AWS or CDK code: `infra/` imports it.
 */
import { CronError, cronString, parseCron } from './protocol/cron.js';
import type { JsonValue, RetryOption } from './protocol/job.js';
import { JobValidationError, validateArgs, validateClass, validateQueue, validateRetry } from './protocol/validate.js';

/**
 * One schedule of a job declared on Lambda: the class and queue are the job's.
 *
 * @example
 * { class: 'ReportJob', queue: 'reports', entry: 'functions/report.ts', cron: { cron: '0 6 * * *', timezone: 'Europe/Berlin', args: ['daily'] } }
 */
export interface CronSchedule {
  /**
   * A cron expression as sidekiq-cron's fugit reads it: 5 fields (or 6 with seconds first), steps,
   * ranges, lists, names, `L`, `mon#2`, `@daily`…, and optionally a zone at the end.
   */
  readonly cron: string;
  /** The entry's name in sidekiq-cron (the Web UI's Cron tab, `sidekiq-lambda cron`). @defaultValue the class name */
  readonly name?: string;
  /** IANA zone (`Europe/Berlin`) or offset (`+05:30`) the expression runs in. @defaultValue 'UTC' (written into the stored expression, so Ruby's poller agrees whatever its `TZ`) */
  readonly timezone?: string;
  /** The job's arguments, JSON-native. @defaultValue [] */
  readonly args?: readonly unknown[];
  /** Shown in the Web UI. @defaultValue '' */
  readonly description?: string;
  /** Enqueue in the Rails ActiveJob envelope (the class is an ActiveJob class). @defaultValue false */
  readonly activeJob?: boolean;
  /** Sidekiq's `retry` for the enqueued job. @defaultValue undefined — Sidekiq's default (true: 25 retries) */
  readonly retry?: RetryOption;
  /** sidekiq-cron 2.x namespace of the entry (1.x has none and ignores it). @defaultValue 'default' */
  readonly namespace?: string;
  /** Append the fire time (epoch seconds, a float) as the last argument, as sidekiq-cron's `date_as_argument`. @defaultValue false */
  readonly dateAsArgument?: boolean;
}

/**
 * A periodic job of any class — a Ruby class included (no handler: Ruby runs it). Goes in
 * `defineJobs`' second argument.
 *
 * @example
 * defineJobs(jobs, { cron: [{ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*\/5 * * * *' }] })
 */
export interface CronEntryDeclaration extends CronSchedule {
  /** The job class enqueued (`CleanupJob`; for ActiveJob the job class, with `activeJob: true`). */
  readonly class: string;
  /** @defaultValue 'default' */
  readonly queue?: string;
}

/** What a job declaration's `cron` field takes: an expression, one schedule, or several (each named). */
export type CronField = string | CronSchedule | readonly CronSchedule[];

/** An entry with every default applied: what the scheduler stores in sidekiq-cron's layout and fires. */
export interface CronEntry {
  readonly name: string;
  readonly class: string;
  readonly queue: string;
  /** The expression as declared. */
  readonly cron: string;
  readonly timezone: string;
  readonly args: readonly JsonValue[];
  readonly description: string;
  readonly activeJob: boolean;
  /** undefined: the job gets Sidekiq's default. */
  readonly retry: RetryOption | undefined;
  readonly namespace: string;
  readonly dateAsArgument: boolean;
}

/** Defaults for every optional field of an entry, in one place. */
export const CRON_DEFAULTS = {
  queue: 'default',
  timezone: 'UTC',
  args: [] as readonly JsonValue[],
  description: '',
  activeJob: false,
  namespace: 'default',
  dateAsArgument: false,
} as const;

export class CronDeclarationError extends Error {
  override name = 'CronDeclarationError';
}

/**
 * Applies defaults and validates one entry; `where` names it in messages.
 *
 * @example
 * resolveCronEntry({ class: 'CleanupJob', cron: '*\/5 * * * *' }).name // 'CleanupJob'
 * resolveCronEntry({ class: 'A', cron: '*\/5 * * * 8' })
 * // throws CronDeclarationError: cron entry A: cron '*\/5 * * * 8': field 5 (day of week) out of range 0-7: 8
 */
export function resolveCronEntry(decl: CronEntryDeclaration, where?: string): CronEntry {
  const cls = typeof decl.class === 'string' ? decl.class : '';
  const name = decl.name ?? cls;
  const label = where ?? `cron entry ${name || '(unnamed)'}`;
  const fail = (problem: string): never => {
    throw new CronDeclarationError(`${label}: ${problem}`);
  };
  const check = <T,>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof JobValidationError || e instanceof CronError) fail(e instanceof CronError ? `cron ${e.message}` : e.message);
      throw e;
    }
  };
  check(() => validateClass(decl.class));
  if (typeof name !== 'string' || name.trim() === '' || /[\r\n\0]/.test(name)) fail('name must be a non-empty line of text');
  if (typeof decl.cron !== 'string' || decl.cron.trim() === '') fail("cron must be an expression, e.g. '*/5 * * * *'");
  const queue = check(() => validateQueue(decl.queue ?? CRON_DEFAULTS.queue));
  const parsed = check(() => parseCron(decl.cron, decl.timezone === undefined ? {} : { timezone: decl.timezone }));
  const args = check(() => validateArgs([...(decl.args ?? CRON_DEFAULTS.args)])) as JsonValue[];
  const retry = decl.retry === undefined ? undefined : check(() => validateRetry(decl.retry));
  const namespace = decl.namespace ?? CRON_DEFAULTS.namespace;
  if (typeof namespace !== 'string' || !/^[^\s:*]+$/.test(namespace)) fail(`namespace "${namespace}" must be non-empty, without spaces, ':' or '*'`);
  for (const flag of ['activeJob', 'dateAsArgument'] as const) {
    if (decl[flag] !== undefined && typeof decl[flag] !== 'boolean') fail(`${flag} must be true or false`);
  }
  return {
    name,
    class: cls,
    queue,
    cron: decl.cron,
    timezone: parsed.timezone ?? CRON_DEFAULTS.timezone,
    args,
    description: decl.description ?? CRON_DEFAULTS.description,
    activeJob: decl.activeJob ?? CRON_DEFAULTS.activeJob,
    retry,
    namespace,
    dateAsArgument: decl.dateAsArgument ?? CRON_DEFAULTS.dateAsArgument,
  };
}

/**
 * The expression as sidekiq-cron stores it (`cron` field): the zone spelled out, so fugit in any
 * Ruby process fires it at the same instants we do.
 *
 * @example
 * storedCron(resolveCronEntry({ class: 'A', cron: '@daily', timezone: 'Europe/Berlin' })) // '0 0 * * * Europe/Berlin'
 */
export function storedCron(entry: CronEntry): string {
  return cronString(parseCron(entry.cron, { timezone: entry.timezone }));
}

/**
 * The entries of one job declaration's `cron` field (class and queue from the job). Several
 * schedules must each be named.
 */
export function schedulesOf(cls: string, queue: string, field: CronField | undefined): CronEntry[] {
  if (field === undefined) return [];
  const list: readonly CronSchedule[] = typeof field === 'string' ? [{ cron: field }] : Array.isArray(field) ? field : [field as CronSchedule];
  if (list.length > 1 && list.some((s) => s.name === undefined)) {
    throw new CronDeclarationError(`job ${cls}: it has ${list.length} cron schedules; give each a name`);
  }
  return list.map((s) => {
    if (s === null || typeof s !== 'object') throw new CronDeclarationError(`job ${cls}: cron must be an expression, a schedule or a list of schedules`);
    return resolveCronEntry({ ...s, class: cls, queue }, `job ${cls}: cron entry ${s.name ?? cls}`);
  });
}

/** Refuses two entries with one name in one namespace (sidekiq-cron keys them by name). */
export function checkUniqueNames(entries: readonly CronEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    const key = `${e.namespace}\0${e.name}`;
    if (seen.has(key)) throw new CronDeclarationError(`cron entry ${e.name} is declared twice${e.namespace === 'default' ? '' : ` in namespace ${e.namespace}`}`);
    seen.add(key);
  }
}

/** The environment variable that carries the entries from deploy to the scheduler. */
export const CRON_ENV = 'SIDEKIQ_LAMBDA_CRON';

/**
 * Encodes entries for `SIDEKIQ_LAMBDA_CRON`: JSON, fields at their default left out (a Lambda
 * function's environment holds 4 KB in all).
 *
 * @example
 * encodeCron([resolveCronEntry({ class: 'CleanupJob', cron: '*\/5 * * * *' })]) // '[{"class":"CleanupJob","cron":"*\/5 * * * *"}]'
 */
export function encodeCron(entries: readonly CronEntry[]): string {
  return JSON.stringify(
    entries.map((e) => {
      const out: Record<string, unknown> = {};
      if (e.name !== e.class) out.name = e.name;
      out.class = e.class;
      out.cron = e.cron;
      for (const [k, dflt] of Object.entries(CRON_DEFAULTS)) {
        const v = e[k as keyof CronEntry];
        if (JSON.stringify(v) !== JSON.stringify(dflt)) out[k] = v;
      }
      if (e.retry !== undefined) out.retry = e.retry;
      return out;
    }),
  );
}

/** Decodes `SIDEKIQ_LAMBDA_CRON`, validating each entry again and failing loudly on anything malformed. */
export function decodeCron(text: string): CronEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CronDeclarationError(`${CRON_ENV} is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new CronDeclarationError(`${CRON_ENV} must be a JSON array`);
  const entries = value.map((row: unknown, i) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new CronDeclarationError(`${CRON_ENV}[${i}] must be an object`);
    return resolveCronEntry(row as CronEntryDeclaration, `${CRON_ENV}[${i}]`);
  });
  checkUniqueNames(entries);
  return entries;
}
