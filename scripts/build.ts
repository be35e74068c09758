// Builds the package with the options in lib/bundling.ts (run with tsx: `npm run build`).
//
//   npm run build (and `prepare`, so a fresh clone's `npm install` leaves a working
//   `npx sidekiq-lambda`): the JavaScript in dist/ — ESM entries and chunks, and the CommonJS
//   entries in dist/cjs/.
//   --package (`prepack`): a clean dist/ with everything `npm pack` ships: the JavaScript, the
//   declaration files (tsc; a copy under dist/cjs/ for CommonJS), and the poller's container
//   bundle dist/container/cli.mjs, which the construct's Dockerfile copies.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { containerBuildOptions, libraryBuildOptions } from '../lib/bundling.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const full = process.argv.includes('--package');
const dist = join(root, 'dist');

if (full) rmSync(dist, { recursive: true, force: true });
await Promise.all([build(libraryBuildOptions(root, 'esm')), build(libraryBuildOptions(root, 'cjs'))]);
// dist/ is ESM by the package's "type"; dist/cjs/ holds CommonJS, and its declaration copy must read as such.
writeFileSync(join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');

if (full) {
  await build({ ...containerBuildOptions(root), logLevel: 'warning' });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  // The same declarations for `require`: under dist/cjs/ TypeScript reads them as CommonJS.
  cpSync(join(dist, 'types'), join(dist, 'cjs', 'types'), { recursive: true });
}
