/**
 * `sidekiq-lambda init` in a scratch directory: the names it derives, the files it writes for an
 * empty folder and for a `cdk init` app, and that it never overwrites anything. Whether the files
 * type-check, run and deploy is the package test's job (test/package/).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InitError, jobNames } from '../../lib/cli/init-templates.js';
import { runInit } from '../../lib/cli/init.js';
import { packageManifest } from '../../lib/package.js';

const dirs: string[] = [];
function scratch(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'skl-init-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const read = (dir: string, path: string): string => readFileSync(join(dir, path), 'utf8');
const own = packageManifest();

/** A package.json as `cdk init app --language typescript` writes it (CommonJS, jest). */
const CDK_INIT_PACKAGE = JSON.stringify(
  {
    name: 'my-app',
    version: '0.1.0',
    scripts: { build: 'tsc', test: 'jest', cdk: 'cdk' },
    devDependencies: { jest: '^30', typescript: '~7.0.2', 'aws-cdk': '2.1148.1', '@types/node': '^24.10.1', tsx: '^4.23.0' },
    dependencies: { 'aws-cdk-lib': '^2.275.0', constructs: '^10.5.0' },
  },
  null,
  2,
);

describe('init', () => {
  describe('jobNames', () => {
    it('derives the file, queue and answer class from the Ruby class', () => {
      expect(jobNames('TrackUserJob')).toEqual({ className: 'TrackUserJob', queue: 'track_user', file: 'track-user', replyClass: 'TrackUserDoneJob' });
      expect(jobNames('Reports::DailyJob', 'reports')).toEqual({ className: 'Reports::DailyJob', queue: 'reports', file: 'reports-daily', replyClass: 'Reports::DailyDoneJob' });
      expect(jobNames('HTTPFetch').file).toBe('http-fetch');
    });

    it('refuses a class Ruby could not name and a queue Sidekiq would not accept', () => {
      expect(() => jobNames('track_user')).toThrow(new InitError('--class must be a Ruby class name such as TrackUserJob or Reports::DailyJob, got "track_user"'));
      expect(() => jobNames('TrackUserJob', '')).toThrow(InitError);
      expect(() => jobNames('TrackUserJob', '')).toThrow(/^--queue: /);
    });
  });

  describe('runInit', () => {
    it('writes an ESM project with a CDK app into an empty folder, and a package.json that lists what the files import', () => {
      // Prepare
      const dir = scratch();
      // Act
      const report = runInit({ dir, className: 'TrackUserJob', queue: 'track' });
      // Assess
      expect(report.written).toEqual([
        'sidekiq-lambda.config.ts',
        'functions/track-user.ts',
        'functions/track-user.test.ts',
        'tsconfig.json',
        'cdk.json',
        'infra/sidekiq-lambda.ts',
      ]);
      expect(report.kept).toEqual([]);
      expect(read(dir, 'sidekiq-lambda.config.ts')).toContain("{ class: 'TrackUserJob', queue: 'track', entry: 'functions/track-user.ts', needsRedis: true }");
      expect(read(dir, 'functions/track-user.ts')).toContain("defineJob<[name: string, greeting: string]>('TrackUserDoneJob', { queue: 'default' })");
      expect(read(dir, 'functions/track-user.test.ts')).toContain("import { handler } from './track-user.js';");
      expect(read(dir, 'infra/sidekiq-lambda.ts')).toContain("import jobs from '../sidekiq-lambda.config.js';");
      expect(read(dir, 'infra/sidekiq-lambda.ts')).toContain('Validations.of(app).addPlugins(new AwsSolutionsChecks(app));');
      expect(JSON.parse(read(dir, 'cdk.json')).app).toBe('npx tsx infra/sidekiq-lambda.ts');
      const pkg = JSON.parse(read(dir, 'package.json'));
      expect(pkg).toMatchObject({ private: true, type: 'module', scripts: { test: 'vitest run', typecheck: 'tsc --noEmit', cdk: 'cdk' } });
      expect(pkg.dependencies).toEqual({ 'sidekiq-lambda': `^${own.version}` });
      expect(Object.keys(pkg.devDependencies)).toEqual(['@types/node', 'aws-cdk', 'aws-cdk-lib', 'cdk-nag', 'constructs', 'tsx', 'typescript', 'vitest']);
      expect(pkg.devDependencies['aws-cdk-lib']).toBe(own.devDependencies!['aws-cdk-lib']);
      expect(report.text).toContain('\nNext:\n  npm install ');
      expect(report.text).toContain('\n  npm test ');
      expect(report.text).toContain('\n  npx sidekiq-lambda dev ');
    });

    it('never overwrites: a second run writes nothing and names every file it left alone', () => {
      // Prepare
      const dir = scratch();
      runInit({ dir, className: 'TrackUserJob' });
      writeFileSync(join(dir, 'functions/track-user.ts'), '// mine\n');
      const pkgBefore = read(dir, 'package.json');
      // Act
      const report = runInit({ dir, className: 'TrackUserJob' });
      // Assess
      expect(report.written).toEqual([]);
      expect(report.kept).toHaveLength(6);
      expect(read(dir, 'functions/track-user.ts')).toBe('// mine\n');
      expect(read(dir, 'package.json')).toBe(pkgBefore);
      expect(report.text).toContain('  kept    functions/track-user.ts (it exists; left alone)');
      expect(report.text).not.toContain('updated package.json');
      expect(report.text).not.toContain('Your CDK app');
    });

    it('fits a `cdk init` app: CommonJS imports, a jest test under test/, no second CDK app, the construct to add printed', () => {
      // Prepare
      const dir = scratch({ 'package.json': CDK_INIT_PACKAGE, 'cdk.json': '{ "app": "npx tsx bin/my-app.ts" }\n', 'tsconfig.json': '{}\n' });
      // Act
      const report = runInit({ dir, className: 'HelloJob' });
      // Assess
      expect(report.written).toEqual(['sidekiq-lambda.config.ts', 'functions/hello.ts', 'test/hello.test.ts']);
      expect(report.kept).toEqual(['tsconfig.json']);
      expect(read(dir, 'test/hello.test.ts')).toContain("import { handler } from '../functions/hello';");
      expect(read(dir, 'test/hello.test.ts')).not.toContain("from 'vitest'");
      expect(read(dir, 'cdk.json')).toBe('{ "app": "npx tsx bin/my-app.ts" }\n');
      const pkg = JSON.parse(read(dir, 'package.json'));
      expect(pkg.scripts).toEqual({ build: 'tsc', test: 'jest', cdk: 'cdk' });
      expect(pkg.dependencies).toEqual({ 'aws-cdk-lib': '^2.275.0', constructs: '^10.5.0', 'sidekiq-lambda': `^${own.version}` });
      expect(report.added).toEqual({ dependencies: ['sidekiq-lambda'], devDependencies: [], scripts: [] });
      expect(report.text).toContain("Your CDK app (cdk.json) was left alone. Deploy the jobs from one of its stacks:\n\n  import { SidekiqLambda } from 'sidekiq-lambda/infra';\n  import jobs from '../sidekiq-lambda.config';");
    });

    it('says what to declare when the config file was there, and what to add when package.json is not JSON', () => {
      // Prepare
      const dir = scratch({ 'sidekiq-lambda.config.ts': 'export default defineJobs([]);\n', 'package.json': '{ "name": "broken", }' });
      // Act
      const report = runInit({ dir, className: 'HelloJob', queue: 'hello' });
      // Assess
      expect(read(dir, 'package.json')).toBe('{ "name": "broken", }');
      expect(report.text).toContain(
        "sidekiq-lambda.config.ts was there already: declare the job in its defineJobs([...]):\n  { class: 'HelloJob', queue: 'hello', entry: 'functions/hello.ts', needsRedis: true },",
      );
      expect(report.text).toContain('package.json is not valid JSON, so it was left alone. Add this to it:\n{\n  "dependencies": {\n    "sidekiq-lambda": ');
    });
  });
});
