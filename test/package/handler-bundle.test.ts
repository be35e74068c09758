/**
 * What a job handler's Lambda bundle contains: `sidekiq-lambda/handler` pulls in neither the CDK,
 * the AWS SDK, the poller, the local endpoint nor a Redis client (what a job enqueues travels in its
 * answer), and an empty handler stays small. Bundled with the options every deployed function uses
 * (`handlerBuildOptions`), minified.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { handlerBuildOptions } from '../../lib/bundling.js';
import { packageRoot } from '../../lib/package.js';

const ROOT = packageRoot();
const scratch = mkdtempSync(join(tmpdir(), 'skl-handler-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Minified size in bytes and every input file, relative to the repository. */
async function bundle(entry: string): Promise<{ bytes: number; inputs: string[] }> {
  const out = await build({ ...handlerBuildOptions(entry), minify: true, write: false, metafile: true, outfile: join(scratch, 'out.mjs') });
  return { bytes: out.outputFiles[0]!.contents.length, inputs: Object.keys(out.metafile.inputs).map((i) => relative(ROOT, join(ROOT, i))) };
}

/** Inputs a job handler's bundle must never hold. */
const FORBIDDEN = [/node_modules\/ioredis\//, /^lib\/redis\//, /node_modules\/aws-cdk-lib\//, /node_modules\/constructs\//, /node_modules\/@aws-sdk\//, /node_modules\/@smithy\//, /node_modules\/esbuild\//, /^lib\/poller\//, /^lib\/local\//, /^lib\/lambda\//, /^lib\/cli(\.ts$|\/)/, /^infra\//];

describe('a handler bundle', () => {
  it('of an empty handler holds no CDK, AWS SDK, Redis client, poller or local endpoint, and stays under 64 KiB minified', async () => {
    // Prepare
    const entry = join(scratch, 'empty.ts');
    writeFileSync(entry, `import { jobHandler } from ${JSON.stringify(join(ROOT, 'lib/handler.ts'))};\nexport const handler = jobHandler(async () => {});\n`);
    // Act
    const { bytes, inputs } = await bundle(entry);
    // Assess
    expect(inputs.filter((i) => FORBIDDEN.some((f) => f.test(i)))).toEqual([]);
    expect(inputs).toContain('lib/handler.ts');
    console.log(`handler bundle, minified: empty ${(bytes / 1024).toFixed(1)} KiB`);
    expect(bytes).toBeLessThan(64 * 1024);
  });

  it('of each example job holds none of them either — the one that enqueues back to Ruby included — and the scheduler only Redis', async () => {
    const sizes: string[] = [];
    for (const name of ['track-user', 'sudoku', 'diagnostics', 'scheduler']) {
      const { bytes, inputs } = await bundle(join(ROOT, 'functions', `${name}.ts`));
      // The scheduler reads and writes Redis, with the AUTH token from Secrets Manager.
      const forbidden = name === 'scheduler' ? FORBIDDEN.filter((f) => !/ioredis|redis|aws-sdk|smithy/.test(f.source)) : FORBIDDEN;
      expect(inputs.filter((i) => forbidden.some((f) => f.test(i))), name).toEqual([]);
      sizes.push(`${name} ${(bytes / 1024).toFixed(1)} KiB`);
    }
    console.log(`handler bundles, minified: ${sizes.join(', ')}`);
  });
});
