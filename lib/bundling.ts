/**
 * The esbuild options of every bundle this project makes, in one place.
 *
 * Tasks:
 * 1. Hold the settings every bundle shares: Node 22 (the Lambda runtime the construct deploys, and
 *    the poller's image), `.lua` files as text (the Redis scripts), and for self-contained ESM
 *    bundles a real `require` for the CommonJS dependencies they inline.
 * 2. One options function per kind of bundle:
 *    - `handlerBuildOptions`: a job handler, everything inlined — dev mode's local endpoint, and
 *      (through `infra/code.ts`, which maps these options onto `NodejsFunction`) every deployed function;
 *    - `containerBuildOptions`: the poller's image, `dist/container/cli.mjs`, everything inlined;
 *    - `libraryBuildOptions`: the npm package's entry points (`dist/`), dependencies left to npm;
 *    - `declarationsBuildOptions`: a `sidekiq-lambda.config.ts` loaded at run time;
 *    - `benchBuildOptions`: one benchmark.
 *
 * Types only from esbuild: importing this module loads no esbuild code (the handler's own bundle
 * never includes it).
 */
import type { BuildOptions } from 'esbuild';

/** Every bundle targets the runtime it is deployed to: Lambda's `nodejs22.x` and the poller's `node:22` image. */
export const NODE_TARGET = 'node22';

/** The Redis scripts are `.lua` files imported as strings (vitest's `lua-as-text` plugin does the same). */
export const LOADERS: Readonly<Record<string, 'text'>> = { '.lua': 'text' };

/** Prefer a dependency's ES module build when it has one (smaller, tree-shaken). */
export const MAIN_FIELDS: readonly string[] = ['module', 'main'];

/**
 * ESM output needs a real `require` for the CommonJS dependencies it inlines (ioredis requires
 * `net`, `events`, …): esbuild's shim throws "Dynamic require of … is not supported" without it.
 */
export const REQUIRE_BANNER =
  "import { createRequire as __sidekiqLambdaCreateRequire } from 'node:module'; const require = __sidekiqLambdaCreateRequire(import.meta.url);";

/**
 * `import.meta.url` in a CommonJS bundle: esbuild leaves it empty, this defines it from `__filename`.
 * The banner comes first, so it repeats the `"use strict"` directive esbuild writes after it.
 */
const IMPORT_META_URL_BANNER = "'use strict';\nconst __sidekiqLambdaImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

const COMMON = {
  bundle: true,
  platform: 'node',
  target: NODE_TARGET,
  loader: { ...LOADERS },
  logLevel: 'silent',
} as const satisfies BuildOptions;

/** A self-contained ESM bundle: every dependency inlined, as Lambda and the container image need. */
const SELF_CONTAINED = {
  ...COMMON,
  format: 'esm',
  mainFields: [...MAIN_FIELDS],
  banner: { js: REQUIRE_BANNER },
} as const satisfies BuildOptions;

/**
 * One job handler bundle: ESM, every dependency inlined. Dev mode bundles with it; `infra/code.ts`
 * gives the same settings to the CDK's `NodejsFunction`, so a bundling problem shows locally first.
 *
 * @example await build({ ...handlerBuildOptions('/app/functions/echo.ts'), outfile: '/tmp/echo.mjs' })
 */
export function handlerBuildOptions(entry: string): BuildOptions {
  return { ...SELF_CONTAINED, entryPoints: [entry] };
}

/**
 * The poller's container bundle: `<root>/dist/container/cli.mjs`, one ESM file with every npm
 * package inlined (the image has no node_modules). Built from the TypeScript sources under `root`.
 *
 * @example buildSync(containerBuildOptions('/work/sidekiq-lambda'))
 */
export function containerBuildOptions(root: string): BuildOptions {
  return {
    ...SELF_CONTAINED,
    // lib/cli.ts exports `main`; bin/sidekiq-lambda.js calls it for the npm package, this stub for the image.
    stdin: {
      contents: "import { main } from './lib/cli.ts';\nprocess.exitCode = await main(process.argv.slice(2));\n",
      resolveDir: root,
      sourcefile: 'container-entry.ts',
      loader: 'ts',
    },
    absWorkingDir: root,
    outfile: `${root}/dist/container/cli.mjs`,
    sourcemap: 'linked',
    legalComments: 'none',
  };
}

/** The package's entry points: `dist/<name>.js` (ESM) and `dist/cjs/<name>.cjs` (CommonJS). */
export const LIBRARY_ENTRIES = {
  /** The producer, the protocol layer, `defineJobs`: `sidekiq-lambda`. */
  index: 'lib/index.ts',
  /** `sidekiq-lambda/handler`. */
  handler: 'lib/handler.ts',
  /** `sidekiq-lambda/testing`. */
  testing: 'lib/testing.ts',
  /** `sidekiq-lambda/infra`: the CDK construct. */
  infra: 'infra/index.ts',
  /** The `sidekiq-lambda` command (ESM only). */
  cli: 'lib/cli.ts',
  /** The scheduler function's entry, which the construct bundles from the installed package (ESM only). */
  scheduler: 'functions/scheduler.ts',
} as const;

/** Entries that CommonJS code may `require` (jest, a `cdk init` app); the command and the scheduler are ESM only. */
const CJS_ENTRIES = ['index', 'handler', 'testing', 'infra'] as const;

/**
 * The npm package's build. ESM: every entry, shared code split into `dist/chunks/` so that each
 * module exists once (one `getClient()` per process whichever entry imports it). CommonJS: one
 * bundle per `require`-able entry, for CommonJS code (jest cannot `require` ES modules). Both leave
 * dependencies to npm (`packages: 'external'`).
 *
 * @example await build(libraryBuildOptions('/work/sidekiq-lambda', 'esm'))
 */
export function libraryBuildOptions(root: string, format: 'esm' | 'cjs'): BuildOptions {
  const common = { ...COMMON, absWorkingDir: root, packages: 'external', sourcemap: 'linked', logLevel: 'warning' } as const;
  if (format === 'esm') {
    return { ...common, format: 'esm', entryPoints: { ...LIBRARY_ENTRIES }, outdir: `${root}/dist`, splitting: true, chunkNames: 'chunks/[name]-[hash]' };
  }
  return {
    ...common,
    format: 'cjs',
    entryPoints: Object.fromEntries(CJS_ENTRIES.map((name) => [name, LIBRARY_ENTRIES[name]])),
    outdir: `${root}/dist/cjs`,
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__sidekiqLambdaImportMetaUrl' },
    banner: { js: IMPORT_META_URL_BANNER },
  };
}

/**
 * A declarations file (`sidekiq-lambda.config.ts`) loaded at run time: ESM, packages left to Node
 * so that `sidekiq-lambda` resolves from the project's own node_modules.
 *
 * @example const out = await build(declarationsBuildOptions('/app/sidekiq-lambda.config.ts'))
 */
export function declarationsBuildOptions(file: string): BuildOptions & { write: false } {
  return { ...COMMON, format: 'esm', entryPoints: [file], packages: 'external', write: false };
}

/**
 * One benchmark: ESM, packages left to Node (it runs inside this repository), inline source map.
 *
 * @example await build(benchBuildOptions('bench/poller.ts', 'node_modules/.bench-x/poller.mjs'))
 */
export function benchBuildOptions(entry: string, outfile: string): BuildOptions {
  return { ...COMMON, format: 'esm', entryPoints: [entry], outfile, packages: 'external', sourcemap: 'inline', logLevel: 'warning' };
}
