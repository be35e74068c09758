/**
 * What a job handler's Lambda bundle contains: `sidekiq-lambda/handler` pulls in neither the CDK,
 * the AWS SDK, the poller nor the local endpoint, and an empty handler stays small. Bundled with
 * the options every deployed function uses (`handlerBuildOptions`), minified.
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

/** Inputs a handler bundle must never hold. */
const FORBIDDEN = [/node_modules\/aws-cdk-lib\//, /node_modules\/constructs\//, /node_modules\/@aws-sdk\//, /node_modules\/@smithy\//, /node_modules\/esbuild\//, /^lib\/poller\//, /^lib\/local\//, /^lib\/lambda\//, /^lib\/cli(\.ts$|\/)/, /^infra\//];

describe('a handler bundle', () => {
  it('of an empty handler holds no CDK, AWS SDK, poller or local endpoint, and stays under 250 KiB minified', async () => {
    // Prepare
    const entry = join(scratch, 'empty.ts');
    writeFileSync(entry, `import { jobHandler } from ${JSON.stringify(join(ROOT, 'lib/handler.ts'))};\nexport const handler = jobHandler(async () => {});\n`);
    // Act
    const { bytes, inputs } = await bundle(entry);
    // Assess
    expect(inputs.filter((i) => FORBIDDEN.some((f) => f.test(i)))).toEqual([]);
    expect(inputs).toContain('lib/handler.ts');
    console.log(`handler bundle, minified: empty ${(bytes / 1024).toFixed(1)} KiB`);
    expect(bytes).toBeLessThan(250 * 1024);
  });

  it('of each example job and the scheduler holds none of them either', async () => {
    const sizes: string[] = [];
    for (const name of ['track-user', 'sudoku', 'diagnostics', 'scheduler']) {
      const { bytes, inputs } = await bundle(join(ROOT, 'functions', `${name}.ts`));
      expect(inputs.filter((i) => FORBIDDEN.some((f) => f.test(i))), name).toEqual([]);
      sizes.push(`${name} ${(bytes / 1024).toFixed(1)} KiB`);
    }
    console.log(`handler bundles, minified: ${sizes.join(', ')}`);
  });
});
