/**
 * Bundling handler code with esbuild, the way deploy bundles it.
 *
 * Tasks:
 * 1. Bundle with the options deploy uses (`handlerBuildOptions`, lib/bundling.ts): ESM, Node 22,
 *    every dependency inlined, `.lua` as text, so that a bundling problem shows locally first.
 * 2. Bundle each distinct entry file once, in parallel, into a scratch directory.
 * 3. Fail with one `BundleError` that names every failing function, its entry file and esbuild's
 *    messages. We fail `startLocalLambda` rather than answer that function's invocations with an
 *    init error: deploy would fail the same way (`cdk synth` stops on a bundling error), and a dev
 *    loop that starts with a broken handler only hides the message in a job's retry entry.
 */
import { basename, extname, join } from 'node:path';
import { build, formatMessages, type BuildFailure } from 'esbuild';
import { handlerBuildOptions } from '../bundling.js';
import type { LocalFunction } from './types.js';

/** One function whose bundle failed, with esbuild's messages formatted as esbuild prints them. */
export interface BundleFailure {
  readonly functions: readonly string[];
  readonly entry: string;
  readonly messages: string;
}

/** Thrown by `startLocalLambda` when a handler does not bundle. */
export class BundleError extends Error {
  override name = 'BundleError';
  constructor(readonly failures: readonly BundleFailure[]) {
    super(
      failures
        .map((f) => `function ${f.functions.join(', ')}: bundling ${f.entry} failed:\n${f.messages}`)
        .join('\n'),
    );
  }
}

/**
 * Bundles every function's entry into `outdir`; resolves to the bundle file of each entry.
 *
 * @example const files = await bundleFunctions(functions, '/tmp/x'); files.get(fn.entry) // '/tmp/x/0-echo.mjs'
 */
export async function bundleFunctions(
  functions: readonly LocalFunction[],
  outdir: string,
): Promise<Map<string, string>> {
  const byEntry = new Map<string, string[]>();
  for (const fn of functions) byEntry.set(fn.entry, [...(byEntry.get(fn.entry) ?? []), fn.name]);
  const entries = [...byEntry.keys()];
  const files = entries.map((entry, i) => join(outdir, `${i}-${basename(entry, extname(entry))}.mjs`));
  const results = await Promise.allSettled(
    entries.map((entry, i) => build({ ...handlerBuildOptions(entry), outfile: files[i], sourcemap: 'linked' })),
  );
  const failures: BundleFailure[] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') continue;
    const entry = entries[i] as string;
    failures.push({ functions: byEntry.get(entry) ?? [], entry, messages: await describe(r.reason) });
  }
  if (failures.length > 0) throw new BundleError(failures);
  return new Map(entries.map((entry, i) => [entry, files[i] as string]));
}

async function describe(reason: unknown): Promise<string> {
  const errors = (reason as Partial<BuildFailure>).errors;
  if (!Array.isArray(errors) || errors.length === 0) return String(reason);
  return (await formatMessages(errors, { kind: 'error', color: false })).join('').trimEnd();
}
