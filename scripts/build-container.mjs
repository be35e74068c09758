// Bundles the poller for its container image: `dist/container/cli.mjs`, one self-contained ESM file
// with every npm package inlined (the image has no node_modules). The Dockerfile copies it and runs
// `node cli.mjs poller`. Lua files load as text, as in scripts/build.mjs. `infra/` runs this before
// it stages the image, so `cdk deploy` always ships the code in the work tree.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  // lib/cli.ts exports `main`; bin/sidekiq-lambda.js calls it for the npm package, this stub for the image.
  stdin: {
    contents: "import { main } from './lib/cli.ts';\nprocess.exitCode = await main(process.argv.slice(2));\n",
    resolveDir: root,
    sourcefile: 'container-entry.ts',
    loader: 'ts',
  },
  absWorkingDir: root,
  outfile: 'dist/container/cli.mjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  // Bundled CommonJS packages (ioredis, the AWS SDK) call require() for Node built-ins.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  loader: { '.lua': 'text' },
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
