// Builds the package's runnable entry points with esbuild (the `prepare` script, so a fresh
// `npm install` leaves a working `npx sidekiq-lambda`). Lua files load as text.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  loader: { '.lua': 'text' },
  sourcemap: 'linked',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: { cli: 'lib/cli.ts', index: 'lib/index.ts', handler: 'lib/handler.ts', testing: 'lib/testing.ts' },
  outdir: 'dist',
});
