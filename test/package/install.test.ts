/**
 * The package as a user gets it. `npm pack` (from a copy of this work tree, so the build never
 * touches the dist/ other tests run), then, in two new projects — an ES module project started in
 * an empty folder, and the CommonJS app `cdk init app --language typescript` writes:
 *   1. install the tarball (the peers, the CDK CLI and TypeScript from npm's cache or registry);
 *   2. `npx sidekiq-lambda init`, and a second handler by hand importing `sidekiq-lambda`,
 *      `sidekiq-lambda/handler` and (its test) `sidekiq-lambda/testing`; `tsc --noEmit` passes;
 *   3. `npx sidekiq-lambda dev` runs both for jobs enqueued by Ruby Sidekiq: one succeeds and
 *      enqueues back, one fails into the retry set with its message (Ruby reads both);
 *   4. the tests `init` wrote pass with the project's own runner (vitest; jest);
 *   5. `npx cdk synth` offline: one function per declared class, the poller's service and image
 *      from the installed package, cdk-nag clean.
 * Each step is one test, named for what it checks; after a failed step the project's later steps
 * are skipped. `dev` and the tests run on Node 22 (the deployed runtime) when npm can provide it.
 * Slow: two npm installs per project and two synths, about three minutes with a warm npm cache.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { packageRoot } from '../../lib/package.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { SIDEKIQ_6 } from '../support/ruby.js';
import { eventually } from '../support/stack.js';

const ROOT = packageRoot();
const WORK = mkdtempSync(join(tmpdir(), 'skl-package-'));
const MINUTE = 60_000;
const started = Date.now();

/** The environment a user's shell has: nothing from the `npm test` or vitest running this file. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|INIT_CWD$|NODE_ENV$|TEST$|NODE_OPTIONS$|FORCE_COLOR$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', CDK_DISABLE_CLI_TELEMETRY: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_prefer_offline: 'true', ...extra };
}

/**
 * Runs a command the way a user types it; returns its stdout and stderr (jest reports on stderr),
 * or throws with the step, the command and its output.
 */
function sh(step: string, cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = userEnv(), timeoutMs = 5 * MINUTE): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs });
  if (r.status !== 0) {
    const tail = (s: string | undefined): string => (s ?? '').split('\n').slice(-40).join('\n');
    throw new Error(`${step}: \`${cmd} ${args.join(' ')}\` in ${cwd} ${r.error ? `failed: ${r.error.message}` : `exited ${r.status ?? r.signal}`}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
  }
  return `${r.stdout}\n${r.stderr}`;
}

/** Whether any process of the group led by `pid` is still running. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

let tarball = '';
/** The directory of a Node 22 binary (npm's `node` package), or undefined when npm cannot provide one. */
let node22: string | undefined;

beforeAll(() => {
  const r = spawnSync('npx', ['-y', '-p', 'node@22', 'node', '-p', 'process.execPath'], { cwd: WORK, env: userEnv(), encoding: 'utf8', timeout: 3 * MINUTE });
  if (r.status === 0 && r.stdout.trim()) node22 = dirname(r.stdout.trim());
  else console.warn(`\n*** package test: no Node 22 from npm (npx -p node@22): dev and the project tests run on ${process.version} ***\n${r.stderr}`);
}, 4 * MINUTE);

afterAll(() => {
  console.log(`package test: ${((Date.now() - started) / 1000).toFixed(0)} s in ${WORK}`);
  if (!process.env.SIDEKIQ_LAMBDA_KEEP_PACKAGE_TEST) rmSync(WORK, { recursive: true, force: true });
});

/** The user's environment with Node 22 first on the PATH, when there is one. */
function node22Env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = userEnv(extra);
  return node22 ? { ...env, PATH: `${node22}${delimiter}${env.PATH ?? ''}` } : env;
}

describe('npm pack', () => {
  it('builds at prepack and ships built JavaScript, CommonJS, declarations, the Dockerfile, the poller bundle and the Rails gem — no sources', { timeout: 5 * MINUTE }, () => {
    // Prepare: a copy of the work tree (tracked and new files, not dist/ or node_modules/), sharing node_modules.
    const src = join(WORK, 'src');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(src, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
    // Act
    sh('npm pack', src, 'npm', ['pack', '--pack-destination', WORK]);
    // Assess
    tarball = join(WORK, readdirSync(WORK).find((f) => f.endsWith('.tgz'))!);
    const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of ['bin/sidekiq-lambda.js', 'dist/index.js', 'dist/handler.js', 'dist/testing.js', 'dist/infra.js', 'dist/cli.js', 'dist/scheduler.js', 'dist/cjs/index.cjs', 'dist/cjs/handler.cjs', 'dist/cjs/testing.cjs', 'dist/cjs/infra.cjs', 'dist/cjs/package.json', 'dist/types/lib/handler.d.ts', 'dist/cjs/types/infra/index.d.ts', 'dist/container/cli.mjs', 'Dockerfile', '.dockerignore', 'LICENSE', 'README.md', 'package.json', 'ruby/sidekiq-lambda/sidekiq-lambda.gemspec', 'ruby/sidekiq-lambda/lib/sidekiq_lambda.rb']) {
      expect(listed, f).toContain(f);
    }
    expect(listed.filter((f) => /^(lib|infra|functions|test|scripts|bench)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });
});

/** One project, its steps in order; a failed step skips the rest of its project. */
interface Project {
  readonly kind: 'esm' | 'cjs';
  readonly dir: string;
  /** The CloudFormation stack `cdk synth` writes. */
  readonly stack: string;
  /** Where the second handler's test goes (next to it for vitest, under test/ for jest). */
  readonly reportTest: string;
  /** Relative import of the second handler from its test. */
  readonly reportImport: string;
}

const PROJECTS: Project[] = [
  { kind: 'esm', dir: join(WORK, 'esm-app'), stack: 'SidekiqLambda', reportTest: 'functions/report.test.ts', reportImport: './report.js' },
  { kind: 'cjs', dir: join(WORK, 'cjs-app'), stack: 'CjsAppStack', reportTest: 'test/report.test.ts', reportImport: '../functions/report' },
];

/** The second handler, written by hand: it fails, for the retry set. */
const REPORT_HANDLER = `import { validateQueue } from 'sidekiq-lambda';
import { jobHandler, type JobContext } from 'sidekiq-lambda/handler';

export class ReportNotReady extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportNotReady';
  }
}

export const handler = jobHandler<[reportId: number]>(async ([reportId], job: JobContext) => {
  validateQueue(job.queue);
  job.logger.warn('report not ready', { reportId });
  throw new ReportNotReady(\`report \${reportId} is not ready\`);
});
`;

function reportTest(p: Project): string {
  return `${p.kind === 'esm' ? "import { describe, expect, it } from 'vitest';\n" : ''}import { runJob } from 'sidekiq-lambda/testing';
import { handler } from '${p.reportImport}';

describe('ReportJob', () => {
  it('fails with its message, for Sidekiq to retry', async () => {
    const out = await runJob(handler, { class: 'ReportJob', queue: 'reports', args: [7] });
    expect(out).toMatchObject({ status: 'failed', error: { class: 'ReportNotReady', message: 'report 7 is not ready' } });
  });
});
`;
}

for (const p of PROJECTS) {
  describe.sequential(`a ${p.kind === 'esm' ? 'new ES module project' : '`cdk init app --language typescript` project (CommonJS, jest)'}`, () => {
    let failed: string | undefined;
    /** A step of this project: skipped after a failed one, and remembered when it fails. */
    const step = (name: string, timeout: number, body: (ctx: TestContext) => Promise<void> | void): void => {
      it(name, { timeout }, async (ctx) => {
        if (!tarball) ctx.skip('npm pack failed');
        if (failed) ctx.skip(`an earlier step failed: ${failed}`);
        try {
          await body(ctx);
        } catch (e) {
          failed = name;
          throw e;
        }
      });
    };

    step('installs the packed tarball, with its peers, the CDK CLI and TypeScript', 8 * MINUTE, () => {
      mkdirSync(p.dir, { recursive: true });
      if (p.kind === 'esm') {
        // A newcomer's folder: the package first, then `init`, then what init added (next step).
        writeFileSync(join(p.dir, 'package.json'), '{ "name": "esm-app", "private": true, "type": "module" }\n');
        sh('install', p.dir, 'npm', ['install', tarball]);
      } else {
        sh('cdk init', p.dir, join(ROOT, 'node_modules/.bin/cdk'), ['init', 'app', '--language', 'typescript', '--generate-only']);
        expect(JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')).type).toBeUndefined();
        sh('install', p.dir, 'npm', ['install', tarball, 'cdk-nag@^3']);
      }
      const help = sh('install', p.dir, 'npx', ['sidekiq-lambda', '--help']);
      expect(help).toMatch(/^Usage: sidekiq-lambda/);
      expect(help).toMatch(/^\s+init\s/m);
    });

    step('`init` writes the first job, its test and (without a CDK app) the app; a second handler by hand; tsc --noEmit passes', 8 * MINUTE, () => {
      const out = sh('init', p.dir, 'npx', ['sidekiq-lambda', 'init', '--class', 'GreetUserJob', '--queue', 'greet']);
      expect(out).toContain('  wrote   functions/greet-user.ts');
      expect(out).toContain('\nNext:\n');
      if (p.kind === 'esm') {
        expect(out).toContain('  wrote   infra/sidekiq-lambda.ts');
        sh('install what init added', p.dir, 'npm', ['install']);
      } else {
        // The construct goes into the app `cdk init` wrote, as init's message says; cdk-nag into its bin/.
        expect(out).toContain('Your CDK app (cdk.json) was left alone.');
        const stackFile = join(p.dir, 'lib/cjs-app-stack.ts');
        const stack = readFileSync(stackFile, 'utf8')
          .replace("import { Construct } from 'constructs';", "import { Construct } from 'constructs';\nimport { SidekiqLambda } from 'sidekiq-lambda/infra';\nimport jobs from '../sidekiq-lambda.config';")
          .replace('    // The code that defines your stack goes here\n', "    // The code that defines your stack goes here\n    new SidekiqLambda(this, 'Sidekiq', { jobs });\n");
        writeFileSync(stackFile, stack);
        const binFile = join(p.dir, 'bin/cjs-app.ts');
        const bin = readFileSync(binFile, 'utf8')
          .replace("import * as cdk from 'aws-cdk-lib/core';", "import * as cdk from 'aws-cdk-lib/core';\nimport { AwsSolutionsChecks } from 'cdk-nag';")
          .replace('const app = new cdk.App();', 'const app = new cdk.App();\ncdk.Validations.of(app).addPlugins(new AwsSolutionsChecks(app));');
        writeFileSync(binFile, bin);
        expect(stack).toContain("new SidekiqLambda(this, 'Sidekiq', { jobs });");
        expect(bin).toContain('addPlugins(new AwsSolutionsChecks(app))');
      }
      // The second handler, its test, and its declaration.
      writeFileSync(join(p.dir, 'functions/report.ts'), REPORT_HANDLER);
      writeFileSync(join(p.dir, p.reportTest), reportTest(p));
      const configFile = join(p.dir, 'sidekiq-lambda.config.ts');
      writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('\n]);', "\n  { class: 'ReportJob', queue: 'reports', entry: 'functions/report.ts' },\n]);"));
      sh('tsc --noEmit', p.dir, 'npx', ['tsc', '--noEmit', '-p', '.']);
    });

    step('`npx sidekiq-lambda dev` runs both handlers for jobs from Ruby Sidekiq: one enqueues back, one fails into the retry set; `stats` reads them', 4 * MINUTE, async (ctx) => {
      // Debian's Sidekiq 6.4.1, the one entry of the Sidekiq matrix every machine can have (apt-get).
      const sk = SIDEKIQ_6;
      const problem = sk.problem();
      if (problem && process.env.CI === 'true') throw new Error(problem);
      if (problem) {
        console.warn(`\n*** SKIPPED the package test's dev step: ${problem} ***\n`);
        ctx.skip(problem);
      }
      let redis: RedisServer | undefined;
      let dev: ChildProcess | undefined;
      let check: Redis | undefined;
      let out = '';
      try {
        redis = await startRedisServer();
        // In a process group of its own, as in a terminal: Ctrl-C (SIGINT to the group) stops it.
        dev = spawn('npx', ['sidekiq-lambda', 'dev'], { cwd: p.dir, env: node22Env({ REDIS_URL: redis.url }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<number | string>((r) => dev!.once('exit', (code, sig) => r(code ?? sig ?? -1)));
        await eventually(() => out.includes('sidekiq-lambda dev: ready'), 90_000, `dev to print ready; output so far:\n${out}`);
        expect(out).toContain('jobs GreetUserJob, ReportJob');
        if (node22) expect(out).not.toContain('NodeVersionSupportWarning');
        // Act: Rails' side enqueues, as a Rails app would.
        sk.run(
          `Sidekiq::Client.push("class" => "GreetUserJob", "queue" => "greet", "args" => ["Ada"])
           Sidekiq::Client.push("class" => "ReportJob", "queue" => "reports", "args" => [7])`,
          redis.url,
        );
        check = new Redis(redis.url);
        await eventually(async () => (await check!.llen('queue:default')) === 1 && (await check!.zcard('retry')) === 1, 60_000, `the answer and the retry; dev output:\n${out}`);
        // Assess, as Ruby reads it
        const seen = JSON.parse(
          sk.run(
            `require "sidekiq/api"; require "json"
             print JSON.generate(
               answers: Sidekiq::Queue.new("default").map { |j| [j.klass, j.args] },
               retries: Sidekiq::RetrySet.new.map { |j| [j.klass, j.args, j.item["error_class"], j.item["error_message"], j.item["retry_count"]] },
               greet: Sidekiq::Queue.new("greet").size, reports: Sidekiq::Queue.new("reports").size)`,
            redis.url,
          ),
        ) as Record<string, unknown>;
        expect(seen).toEqual({
          answers: [['GreetUserDoneJob', ['Ada', 'Hello, Ada!']]],
          retries: [['ReportJob', [7], 'ReportNotReady', 'report 7 is not ready', 0]],
          greet: 0,
          reports: 0,
        });
        // The operator commands run from the project too (processed/failed land with the next heartbeat).
        const stats = JSON.parse(sh('stats', p.dir, 'npx', ['sidekiq-lambda', 'stats', '--json'], node22Env({ REDIS_URL: redis.url })).split('\n')[0]!) as Record<string, unknown>;
        expect(stats).toMatchObject({ enqueued: 1, retries: 1, dead: 0, processes: 1 });
        // Ctrl-C: dev stops cleanly (npx re-raises the signal), and nothing of it is left running.
        process.kill(-dev.pid!, 'SIGINT');
        expect([0, 'SIGINT']).toContain(await exited);
        expect(out).toContain('sidekiq-lambda dev: SIGINT: stopping');
        expect(out).toContain('sidekiq-lambda dev: stopped');
        // (esbuild's service process ends when dev's stdin pipe to it closes, a moment later)
        await eventually(() => !groupAlive(dev!.pid!), 10_000, 'every process of dev to end');
      } finally {
        check?.disconnect();
        if (dev?.pid && groupAlive(dev.pid)) process.kill(-dev.pid, 'SIGKILL');
        await redis?.stop();
      }
    });

    step('the tests `init` wrote, and the second handler’s, pass with the project’s runner', 4 * MINUTE, () => {
      const out = sh('npm test', p.dir, 'npm', ['test'], node22Env());
      if (p.kind === 'esm') expect(out).toMatch(/Tests\s+3 passed \(3\)/);
      else expect(out).toMatch(/Tests:\s+4 passed, 4 total/); // with the example test `cdk init` wrote
    });

    step('`npx cdk synth` offline: one function per declared class, the poller service and image from the package, cdk-nag clean', 6 * MINUTE, () => {
      sh('cdk synth', p.dir, 'npx', ['cdk', 'synth', '--no-notices', '-q']);
      const out = join(p.dir, 'cdk.out');
      const template = JSON.parse(readFileSync(join(out, `${p.stack}.template.json`), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
      const resources = Object.values(template.Resources);
      const jobFunctions = resources
        .filter((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith('Sidekiq job '))
        .map((r) => r.Properties.Description)
        .sort();
      expect(jobFunctions).toEqual(['Sidekiq job GreetUserJob (queue greet)', 'Sidekiq job ReportJob (queue reports)']);
      expect(resources.filter((r) => r.Type === 'AWS::ECS::Service')).toHaveLength(1);
      // cdk-nag ran as a validation plugin and found nothing it was not told about (synth would have failed).
      const report = JSON.parse(readFileSync(join(out, 'validation-report.json'), 'utf8')) as { pluginReports: { pluginName: string; conclusion: string }[] };
      expect(report.pluginReports.filter((r) => r.conclusion !== 'success')).toEqual([]);
      // The poller's image: the package's Dockerfile and prebuilt bundle, staged from node_modules.
      const assets = JSON.parse(readFileSync(join(out, `${p.stack}.assets.json`), 'utf8')) as { dockerImages: Record<string, { source: { directory: string } }> };
      const images = Object.values(assets.dockerImages);
      expect(images).toHaveLength(1);
      const context = join(out, images[0]!.source.directory);
      expect(readdirSync(context).sort()).toEqual(['.dockerignore', 'Dockerfile', 'dist']);
      expect(existsSync(join(context, 'dist/container/cli.mjs'))).toBe(true);
    });
  });
}
