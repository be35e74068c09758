/**
 * The one typed declaration of the jobs that run on Lambda, shared by deploy and runtime.
 *
 * Tasks:
 * 1. Declare a job class: its queue, handler entry file, timeout, memory, concurrency cap and batch
 *    size (`defineJobs`), with defaults in one commented table (`JOB_DEFAULTS`).
 * 2. Validate declarations with messages that name the job and the field.
 * 3. Carry the routing part of the declarations through the environment — the CDK construct writes
 *    `SIDEKIQ_LAMBDA_JOBS`, the poller reads it — and prove the round trip in a test.
 * 4. Gather the periodic jobs (`cron` on a job, and `defineJobs`' `cron` list for any class) into
 *    the list's `cron` (lib/periodic.ts).
 *
 * This module opens no connection and imports no AWS or CDK code: `infra/` imports it.
 */
import { validateQueue } from './protocol/validate.js';
import { checkUniqueNames, schedulesOf, type CronEntry, type CronEntryDeclaration, type CronField, resolveCronEntry } from './periodic.js';

/** One Ruby job class that runs as a Lambda function. */
export interface JobDeclaration {
  /** The Ruby class name Rails enqueues (`TrackUserJob`, or an ActiveJob class: matched on `wrapped`). */
  readonly class: string;
  /**
   * The Sidekiq queue of this class. The poller drains it — unless `shared` says Ruby drains it
   * too, when the poller runs only the share of jobs routed to Lambda (`sidekiq-lambda route`).
   */
  readonly queue: string;
  /**
   * @defaultValue false — the queue is the poller's alone. `true`: Ruby drains the queue and
   * runs the class's other jobs (the class moves gradually: `sidekiq-lambda route C --lambda 10%`).
   */
  readonly shared?: boolean;
  /** The handler's source file, relative to the declarations file. Bundled by esbuild for dev and deploy. */
  readonly entry: string;
  /** @defaultValue 'handler' — the export the Lambda runtime calls. */
  readonly handlerExport?: string;
  /** @defaultValue derived from the class: `sidekiq-lambda-<class with :: as ->` (dev); CDK names it. */
  readonly functionName?: string;
  /** @defaultValue 30 — seconds before Lambda stops the function. */
  readonly timeoutSeconds?: number;
  /** @defaultValue 256 — MiB. */
  readonly memoryMb?: number;
  /** @defaultValue 10 — jobs of this class in flight at once, across the poller (and reserved concurrency in AWS). */
  readonly concurrency?: number;
  /** @defaultValue 1 — up to this many jobs of this class per Invoke, each with its own outcome. */
  readonly batchSize?: number;
  /** @defaultValue false — the handler enqueues back to Redis, so the function is placed in the VPC. */
  readonly needsRedis?: boolean;
  /** @defaultValue {} — extra environment variables for the function. */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Enqueue this class periodically (sidekiq-cron compatible): `'0 6 * * *'`, a schedule with
   * `timezone`, `args`, `name`…, or several named schedules. See lib/periodic.ts.
   * @defaultValue none
   */
  readonly cron?: CronField;
}

/** A declaration with every default applied; `cron` resolved to entries with this class and queue. */
export type ResolvedJob = Required<Omit<JobDeclaration, 'cron'>> & { readonly cron: readonly CronEntry[] };

/** Defaults for every optional field, in one place. */
export const JOB_DEFAULTS = {
  handlerExport: 'handler',
  timeoutSeconds: 30,
  memoryMb: 256,
  concurrency: 10,
  batchSize: 1,
  needsRedis: false,
  shared: false,
  environment: {} as Readonly<Record<string, string>>,
  cron: [] as readonly CronEntry[],
} as const;

/** The Lambda limits a declaration must respect. */
const MAX_TIMEOUT_SECONDS = 900;

export class JobDeclarationError extends Error {
  override name = 'JobDeclarationError';
}

/** The default function name for a class: Lambda names allow `[A-Za-z0-9-_]`, up to 64 characters. */
export function defaultFunctionName(cls: string): string {
  return `sidekiq-lambda-${cls.replace(/::/g, '-').replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 64);
}

function positiveInt(job: string, field: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new JobDeclarationError(`job ${job}: ${field} must be an integer from 1 to ${max}, got ${value}`);
  }
}

/** Applies defaults and validates one declaration. */
export function resolveJob(decl: JobDeclaration): ResolvedJob {
  if (typeof decl.class !== 'string' || decl.class.trim() === '') {
    throw new JobDeclarationError('a job declaration has no class: set `class` to the Ruby job class name');
  }
  const name = decl.class;
  try {
    validateQueue(decl.queue);
  } catch (e) {
    throw new JobDeclarationError(`job ${name}: ${(e as Error).message}`);
  }
  if (typeof decl.entry !== 'string' || decl.entry === '') {
    throw new JobDeclarationError(`job ${name}: entry must name the handler file, e.g. 'functions/track-user.ts'`);
  }
  // An option set to `undefined` (e.g. `timeoutSeconds: env.T ? Number(env.T) : undefined`) means its default.
  const given = Object.fromEntries(Object.entries(decl).filter(([, v]) => v !== undefined)) as JobDeclaration;
  const { cron, ...options } = given;
  const job: ResolvedJob = {
    ...JOB_DEFAULTS,
    functionName: defaultFunctionName(name),
    ...options,
    cron: schedulesOf(name, decl.queue, cron),
  };
  positiveInt(name, 'timeoutSeconds', job.timeoutSeconds, MAX_TIMEOUT_SECONDS);
  positiveInt(name, 'memoryMb', job.memoryMb, 10_240);
  positiveInt(name, 'concurrency', job.concurrency);
  positiveInt(name, 'batchSize', job.batchSize, 1000);
  if (typeof job.shared !== 'boolean') throw new JobDeclarationError(`job ${name}: shared must be true or false, got ${JSON.stringify(job.shared)}`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(job.functionName)) {
    throw new JobDeclarationError(`job ${name}: functionName "${job.functionName}" must be 1–64 of [A-Za-z0-9-_]`);
  }
  return job;
}

/** The second argument of {@link defineJobs}. */
export interface DefineJobsOptions {
  /** Periodic jobs of any class, Ruby's included (class and queue given). @defaultValue [] */
  readonly cron?: readonly CronEntryDeclaration[];
}

/** The declared jobs, and every periodic job (theirs and the separate ones) as `cron`. */
export interface JobList extends ReadonlyArray<ResolvedJob> {
  readonly cron: readonly CronEntry[];
}

/**
 * Declares the jobs that run on Lambda, and the periodic jobs. The result is read by
 * `sidekiq-lambda dev`, the poller's routing, the scheduler and the CDK construct.
 *
 * @example
 * export default defineJobs([
 *   { class: 'TrackUserJob', queue: 'track', entry: 'functions/track-user.ts', concurrency: 50, batchSize: 10 },
 *   { class: 'ReportJob', queue: 'reports', entry: 'functions/report.ts', cron: { cron: '0 6 * * *', timezone: 'Europe/Berlin' } },
 * ], {
 *   cron: [{ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*\/5 * * * *' }], // a Ruby class
 * });
 */
export function defineJobs(decls: readonly JobDeclaration[], options: DefineJobsOptions = {}): JobList {
  const jobs = decls.map(resolveJob);
  const seen = new Map<string, string>();
  for (const j of jobs) {
    if (seen.has(j.class)) throw new JobDeclarationError(`job ${j.class} is declared twice`);
    seen.set(j.class, j.functionName);
  }
  // A queue the poller drains holds no job Ruby should run: a shared queue is Ruby's for every class on it.
  for (const j of jobs) {
    const other = jobs.find((o) => o.queue === j.queue && o.shared !== j.shared);
    if (j.shared && other) throw new JobDeclarationError(`job ${j.class} shares queue ${j.queue} with Ruby (shared: true), but ${other.class} declares it the poller's own: declare both shared, or give ${other.class} a queue of its own`);
  }
  const fnOwners = new Map<string, string>();
  for (const j of jobs) {
    const other = fnOwners.get(j.functionName);
    if (other) throw new JobDeclarationError(`jobs ${other} and ${j.class} share the function name ${j.functionName}`);
    fnOwners.set(j.functionName, j.class);
  }
  const own = jobs.flatMap((j) => j.cron);
  // Declaring again from a JobList (the construct, the declarations loader) keeps its separate entries.
  const carried = (decls as Partial<JobList>).cron;
  const extra = options.cron ?? (Array.isArray(carried) ? carried.filter((e) => !own.some((o) => o.name === e.name && o.namespace === e.namespace)) : []);
  const cron = [...own, ...extra.map((e) => resolveCronEntry(e))];
  checkUniqueNames(cron);
  return Object.defineProperty(jobs, 'cron', { value: cron, enumerable: false }) as unknown as JobList;
}

/** What the poller needs to route a class: carried in `SIDEKIQ_LAMBDA_JOBS`. */
export interface Route {
  readonly class: string;
  readonly queue: string;
  /** A function name or ARN, as `Invoke` accepts. */
  readonly function: string;
  readonly timeoutSeconds: number;
  readonly concurrency: number;
  readonly batchSize: number;
  /** Ruby drains `queue` too; the poller runs the class from its Lambda queue only. */
  readonly shared?: boolean;
}

/** The environment variable that carries the routes from deploy to the poller. */
export const JOBS_ENV = 'SIDEKIQ_LAMBDA_JOBS';

/** The route of a declaration; `fn` overrides the function (the CDK passes the deployed name). */
export function routeOf(job: ResolvedJob, fn: string = job.functionName): Route {
  return {
    class: job.class,
    queue: job.queue,
    function: fn,
    timeoutSeconds: job.timeoutSeconds,
    concurrency: job.concurrency,
    batchSize: job.batchSize,
    ...(job.shared ? { shared: true } : {}),
  };
}

/** Encodes routes for `SIDEKIQ_LAMBDA_JOBS`. */
export function encodeRoutes(routes: readonly Route[]): string {
  // `shared` is a 7th element only when set, so existing deployments keep their exact environment.
  return JSON.stringify(routes.map((r) => [r.class, r.queue, r.function, r.timeoutSeconds, r.concurrency, r.batchSize, ...(r.shared ? [true] : [])]));
}

/** Decodes `SIDEKIQ_LAMBDA_JOBS`, failing loudly on anything malformed. */
export function decodeRoutes(text: string): Route[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new JobDeclarationError(`${JOBS_ENV} is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new JobDeclarationError(`${JOBS_ENV} must be a JSON array`);
  return value.map((row, i) => {
    if (!Array.isArray(row) || (row.length !== 6 && row.length !== 7)) {
      throw new JobDeclarationError(`${JOBS_ENV}[${i}] must be [class, queue, function, timeoutSeconds, concurrency, batchSize(, shared)]`);
    }
    const [cls, queue, fn, timeoutSeconds, concurrency, batchSize, shared] = row as unknown[];
    // String(null) would be the class "null": require real strings.
    if (typeof cls !== 'string' || cls === '') throw new JobDeclarationError(`${JOBS_ENV}[${i}]: class must be a non-empty string`);
    if (typeof queue !== 'string') throw new JobDeclarationError(`${JOBS_ENV}[${i}]: queue must be a string`);
    const job = resolveJob({
      class: cls,
      queue,
      entry: '-',
      functionName: defaultFunctionName(cls),
      timeoutSeconds: Number(timeoutSeconds),
      concurrency: Number(concurrency),
      batchSize: Number(batchSize),
      shared: shared === true,
    });
    if (typeof fn !== 'string' || fn === '') throw new JobDeclarationError(`${JOBS_ENV}[${i}]: function must be a name or ARN`);
    return routeOf(job, fn);
  });
}
