/**
 * What `sidekiq-lambda init` writes, as pure functions of the job's names and the project's kind.
 *
 * Tasks:
 * 1. Name the first job's files from its Ruby class (`TrackUserJob` → `functions/track-user.ts`,
 *    queue `track_user`, answer class `TrackUserDoneJob`), refusing what Ruby or Sidekiq would not accept.
 * 2. Render each file for the project it lands in: ES modules (`.js` in relative imports) or
 *    CommonJS (extensionless, as a `cdk init` app writes them), and vitest or jest for the test.
 * 3. Render the snippets `init` prints instead of writing: a declaration for an existing config
 *    file, the construct for an existing CDK app.
 */
import { validateQueue } from '../protocol/validate.js';

/** The names of the first job and its files. */
export interface JobNames {
  /** The Ruby class Rails enqueues: `TrackUserJob`. */
  readonly className: string;
  /** `track_user` unless given. */
  readonly queue: string;
  /** The handler's file name without extension: `track-user`. */
  readonly file: string;
  /** The Ruby class the handler enqueues back: `TrackUserDoneJob`. */
  readonly replyClass: string;
}

/** What kind of project the files land in. */
export interface ProjectKind {
  /** `"type": "module"` in package.json (or a new package.json), else CommonJS. */
  readonly module: 'esm' | 'cjs';
  /** The project's test runner; vitest is added when it has none. */
  readonly runner: 'vitest' | 'jest';
}

export class InitError extends Error {
  override name = 'InitError';
}

const RUBY_CLASS = /^[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)*$/;

function words(segment: string): string[] {
  return segment
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/**
 * The names of a job's files from its Ruby class (and queue, when given).
 *
 * @example jobNames('TrackUserJob') // { className: 'TrackUserJob', queue: 'track_user', file: 'track-user', replyClass: 'TrackUserDoneJob' }
 */
export function jobNames(className: string, queue?: string): JobNames {
  if (!RUBY_CLASS.test(className)) {
    throw new InitError(`--class must be a Ruby class name such as TrackUserJob or Reports::DailyJob, got "${className}"`);
  }
  const base = className.replace(/Job$/, '');
  const parts = base.split('::').flatMap(words);
  const file = parts.length > 0 ? parts.join('-') : 'job';
  const q = queue ?? file.replace(/-/g, '_');
  try {
    validateQueue(q);
  } catch (e) {
    throw new InitError(`--queue: ${(e as Error).message}`);
  }
  return { className, queue: q, file, replyClass: `${base}DoneJob` };
}

/** A relative import specifier as the project's module kind writes it. */
function rel(kind: ProjectKind, specifier: string): string {
  return kind.module === 'esm' ? `${specifier}.js` : specifier;
}

/** The declaration of the first job, as one line of `defineJobs([...])`. */
export function declaration(n: JobNames): string {
  return `{ class: '${n.className}', queue: '${n.queue}', entry: 'functions/${n.file}.ts', needsRedis: true }`;
}

/** `sidekiq-lambda.config.ts`. */
export function configFile(n: JobNames): string {
  return `/**
 * The Sidekiq job classes that run on AWS Lambda, read by \`npx sidekiq-lambda dev\`, the poller and
 * the CDK construct. \`entry\` is relative to this file. Ruby's Sidekiq must not read the queues
 * declared here — unless a class is declared \`shared: true\`: Ruby keeps its queue and
 * \`npx sidekiq-lambda route\` moves a share of the class to Lambda.
 * Options (with defaults): handlerExport ('handler'), timeoutSeconds (30), memoryMb (256),
 * concurrency (10), batchSize (1), needsRedis (false: set it when the handler enqueues jobs).
 */
import { defineJobs } from 'sidekiq-lambda';

export default defineJobs([
  ${declaration(n)},
]);
`;
}

/** `functions/<file>.ts`: a handler that logs and enqueues a job back to Ruby. */
export function handlerFile(n: JobNames): string {
  const replyConst = n.replyClass.split('::').pop()!.replace(/Job$/, '');
  return `/**
 * ${n.className}, run on AWS Lambda. Rails enqueues it as before, on queue "${n.queue}":
 *   Sidekiq::Client.push("class" => "${n.className}", "queue" => "${n.queue}", "args" => ["Ada"])
 * The poller invokes this function with the job; returning means done, throwing means Sidekiq's
 * retry (kill(), discard() and retryIn() from 'sidekiq-lambda/handler' steer it).
 */
import { defineJob, jobHandler, kill } from 'sidekiq-lambda/handler';

/** A Ruby job class of your app, run by Ruby's Sidekiq: this handler enqueues it when it is done. */
const ${replyConst} = defineJob<[name: string, greeting: string]>('${n.replyClass}', { queue: 'default' });

export const handler = jobHandler<[name: string]>(async ([name], job) => {
  // Arguments that can never work: to the dead set now, without 25 retries.
  if (typeof name !== 'string' || name === '') throw kill(new TypeError(\`expected a name, got \${JSON.stringify(name)}\`));
  const greeting = \`Hello, \${name}!\`;
  job.logger.info('greeting', { name, greeting });
  // Written to Redis with this job's success, once (it travels in the function's answer).
  const jid = await ${replyConst}.performAsync(name, greeting);
  job.logger.info('enqueued ${n.replyClass}', { jid });
});
`;
}

/** Where the handler's test goes: next to it for vitest, under `test/` for jest (as `cdk init` configures it). */
export function testPath(n: JobNames, kind: ProjectKind): string {
  return kind.runner === 'jest' ? `test/${n.file}.test.ts` : `functions/${n.file}.test.ts`;
}

/** The handler's test: `runJob` with `fakeClient`, so it needs no Redis. */
export function testFile(n: JobNames, kind: ProjectKind): string {
  const handlerImport = kind.runner === 'jest' ? rel(kind, `../functions/${n.file}`) : rel(kind, `./${n.file}`);
  const runnerImport = kind.runner === 'vitest' ? "import { describe, expect, it } from 'vitest';\n" : '';
  return `/**
 * ${n.className} runs as Lambda would run it (runJob), with a client that keeps what it enqueues in
 * memory (fakeClient): no Redis, no AWS.
 */
${runnerImport}import { fakeClient, runJob } from 'sidekiq-lambda/testing';
import { handler } from '${handlerImport}';

describe('${n.className}', () => {
  it('greets and enqueues ${n.replyClass} for Ruby', async () => {
    const client = fakeClient();
    const out = await runJob(handler, { class: '${n.className}', queue: '${n.queue}', args: ['Ada'] }, { client });
    expect(out.status).toBe('ok');
    expect(out.logs).toContainEqual(expect.objectContaining({ msg: 'greeting', name: 'Ada' }));
    expect(client.jobs).toMatchObject([{ class: '${n.replyClass}', queue: 'default', args: ['Ada', 'Hello, Ada!'] }]);
  });

  it('sends a job without a name to the dead set', async () => {
    const out = await runJob(handler, { class: '${n.className}', queue: '${n.queue}', args: [42] }, { client: fakeClient() });
    expect(out).toMatchObject({ status: 'failed', action: 'kill', error: { class: 'TypeError', message: 'expected a name, got 42' } });
  });
});
`;
}

/** Where the CDK app goes when the project has none. */
export const APP_PATH = 'infra/sidekiq-lambda.ts';

/** `cdk.json` for the app `init` writes. */
export function cdkJson(): string {
  return `${JSON.stringify(
    {
      app: `npx tsx ${APP_PATH}`,
      watch: { include: ['infra/**', 'functions/**', 'sidekiq-lambda.config.ts'] },
      context: {},
    },
    null,
    2,
  )}\n`;
}

/** The CDK app: the `SidekiqLambda` construct around the declared jobs, cdk-nag on every synth. */
export function cdkApp(kind: ProjectKind): string {
  return `/**
 * The CDK app that deploys the jobs in sidekiq-lambda.config.ts: one Lambda function per job class,
 * the poller on ECS Fargate, the scheduler, Redis (or your own: see existingRedis) and alarms.
 *   npx cdk synth     offline, no credentials: bundles the functions, stages the poller image
 *   npx cdk deploy    needs AWS credentials and Docker (or CDK_DOCKER=finch|podman) for the image
 * cdk-nag's AwsSolutions checks run on every synth and fail it on an unacknowledged finding.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SidekiqLambdaStack } from 'sidekiq-lambda/infra';
import jobs from '${rel(kind, '../sidekiq-lambda.config')}';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new SidekiqLambdaStack(app, 'SidekiqLambda', {
  description: 'Sidekiq jobs on AWS Lambda (sidekiq-lambda)',
  sidekiq: { jobs },
});
`;
}

/** `tsconfig.json` for a project that has none. */
export function tsconfigFile(kind: ProjectKind): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023'],
        types: kind.runner === 'jest' ? ['jest', 'node'] : ['node'],
        strict: true,
        isolatedModules: true,
        skipLibCheck: true,
        noEmit: true,
      },
      exclude: ['node_modules', 'cdk.out'],
    },
    null,
    2,
  )}\n`;
}

/** What to add to an existing CDK app's stack (printed, never written). */
export function constructSnippet(kind: ProjectKind): string {
  return [
    "import { SidekiqLambda } from 'sidekiq-lambda/infra';",
    `import jobs from '${rel(kind, '../sidekiq-lambda.config')}';   // the path from your stack's file`,
    '',
    "new SidekiqLambda(this, 'Sidekiq', { jobs });                 // in the stack's constructor",
  ].join('\n');
}
