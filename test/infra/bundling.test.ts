/**
 * The real build: functions bundled by local esbuild (no Docker), and the poller's container bundle.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { App } from 'aws-cdk-lib';
import { buildSync } from 'esbuild';
import { BUNDLING, PACKAGE_ROOT, RUNTIME } from '../../infra/code.js';
import { containerBuildOptions, handlerBuildOptions, NODE_TARGET } from '../../lib/bundling.js';
import { makeSidekiq } from './support.js';

const FIXTURES = resolve(PACKAGE_ROOT, 'test/infra/fixtures');

/** The staged asset directories of a synthesized app, by their hash. */
function assetDir(app: App, hash: string): string {
  return join(app.outdir, `asset.${hash}`);
}

describe('bundling', () => {
  it('gives NodejsFunction the options dev mode bundles with, targeting the runtime it deploys', () => {
    const dev = handlerBuildOptions('-');
    expect(BUNDLING).toEqual({
      forceDockerBundling: false,
      format: 'esm',
      target: NODE_TARGET,
      mainFields: dev.mainFields,
      banner: dev.banner!.js,
      loader: dev.loader,
      sourceMap: true,
    });
    expect(RUNTIME.name).toBe(`nodejs${NODE_TARGET.replace(/^node/, '')}.x`);
  });

  it('bundles each function with local esbuild into ESM that runs, and stages the poller image context', { timeout: 90_000 }, async () => {
    // Prepare / Act
    const { stack, sidekiq, template } = makeSidekiq({
      skipBundling: false,
      jobsRoot: FIXTURES,
      jobs: [{ class: 'FixtureJob', queue: 'fixtures', entry: 'job.ts' }],
      schedulerEntry: join(FIXTURES, 'scheduler.ts'),
    });
    const app = stack.node.root as App;
    // Assess: the job function is a real bundle, and it runs.
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.handler', Runtime: 'nodejs22.x' });
    const code = (template.toJSON().Resources[stack.getLogicalId(sidekiq.functions.get('FixtureJob')!.node.defaultChild as never)] as {
      Properties: { Code: { S3Key: string } };
    }).Properties.Code;
    const dir = assetDir(app, code.S3Key.replace(/\.zip$/, ''));
    expect(readdirSync(dir)).toContain('index.mjs');
    const bundled = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler: (e: unknown) => Promise<unknown> };
    await expect(bundled.handler({ args: [1, 'a'] })).resolves.toEqual({
      script: '-- A fixture: proves the function bundle loads .lua files as text, as the Redis scripts do.\nreturn "hello from lua"',
      digest: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    // The poller image: a Docker asset whose context holds only the Dockerfile and the container bundle.
    const assets = JSON.parse(readFileSync(join(app.outdir, 'Test.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; platform?: string } }>;
    };
    const images = Object.values(assets.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source.platform).toBe('linux/arm64');
    const context = join(app.outdir, images[0]!.source.directory);
    expect(readdirSync(context).sort()).toEqual(['.dockerignore', 'Dockerfile', 'dist']);
    expect(readdirSync(join(context, 'dist')).sort()).toEqual(['container']);
    expect(existsSync(join(context, 'dist/container/cli.mjs'))).toBe(true);
  });

  it('builds dist/container/cli.mjs, which starts and answers --help with every dependency inlined', { timeout: 60_000 }, () => {
    // Act
    rmSync(join(PACKAGE_ROOT, 'dist/container'), { recursive: true, force: true });
    buildSync(containerBuildOptions(PACKAGE_ROOT));
    // As the Dockerfile does: the bundle alone in a directory with no node_modules anywhere above it.
    const image = mkdtempSync(join(tmpdir(), 'sidekiq-lambda-image-'));
    cpSync(join(PACKAGE_ROOT, 'dist/container'), image, { recursive: true });
    const run = spawnSync(process.execPath, ['cli.mjs', '--help'], {
      cwd: image,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: sidekiq-lambda/);
    expect(run.stdout).toMatch(/^\s+poller\s/m);
    rmSync(image, { recursive: true, force: true });
  });
});
