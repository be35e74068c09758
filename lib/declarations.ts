/**
 * Loads a job declarations file (`sidekiq-lambda.config.ts`, default export `defineJobs([...])`)
 * at run time: esbuild bundles it to a temporary module, which is imported.
 */
import { rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { declarationsBuildOptions } from './bundling.js';
import { defineJobs, type JobDeclaration, type ResolvedJob } from './jobs.js';
import type { CronEntry } from './periodic.js';

export const DEFAULT_DECLARATIONS = 'sidekiq-lambda.config.ts';

export interface LoadedDeclarations {
  /** Absolute path of the file. */
  readonly file: string;
  /** Directory entries are relative to. */
  readonly dir: string;
  readonly jobs: readonly ResolvedJob[];
  /** The periodic jobs: those on the jobs and `defineJobs`' separate `cron` list. */
  readonly cron: readonly CronEntry[];
}

export async function loadDeclarations(path = DEFAULT_DECLARATIONS): Promise<LoadedDeclarations> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new Error(
      `no job declarations at ${file}: run \`npx sidekiq-lambda init\` here to write a first job, pass --config FILE, or create it with ` +
        "`export default defineJobs([{ class: 'MyJob', queue: 'my_queue', entry: 'functions/my-job.ts' }])`",
    );
  }
  // esbuild loads only when a declarations file is read, not in every poller.
  const { build } = await import('esbuild');
  const out = await build(declarationsBuildOptions(file));
  // Place the module next to the original so `node_modules` resolution matches it.
  const tmp = join(dirname(file), `.sidekiq-lambda-declarations-${process.pid}.mjs`);
  try {
    writeFileSync(tmp, out.outputFiles[0]!.text);
    const mod = (await import(pathToFileURL(tmp).href)) as { default?: unknown };
    const list = mod.default;
    if (!Array.isArray(list)) throw new Error(`${file} must \`export default defineJobs([...])\``);
    const jobs = defineJobs(list as JobDeclaration[]);
    return { file, dir: dirname(file), jobs, cron: jobs.cron };
  } finally {
    rmSync(tmp, { force: true });
  }
}
