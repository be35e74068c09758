// The bench runner: `npm run bench [name…]` (run with tsx). Bundles each bench/<name>.ts with
// esbuild (`benchBuildOptions`, lib/bundling.ts: ESM, packages external, Lua as text) into a temp
// dir inside the repo (so bare imports resolve from node_modules), then runs it with node, one
// after another.
// With no names it runs every bench/*.ts. Extra node flags: BENCH_NODE_OPTIONS="--cpu-prof".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { benchBuildOptions } from '../lib/bundling.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const names = process.argv.slice(2).map((n) => n.replace(/^bench\//, '').replace(/\.ts$/, ''));
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`bench: no bench/${unknown[0]}.ts; available: ${available.join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? names : available;

const out = mkdtempSync(join(root, 'node_modules', '.bench-'));
let failed = 0;
try {
  for (const name of selected) {
    const outfile = join(out, `${name}.mjs`);
    await build(benchBuildOptions(join(benchDir, `${name}.ts`), outfile));
    console.log(`\n=== bench/${name}.ts ===`);
    const flags = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
    // Node 20 here; deployed pollers run Node 22, where the AWS SDK does not warn about the version.
    const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env };
    const r = spawnSync(process.execPath, ['--enable-source-maps', ...flags, outfile], { cwd: root, stdio: 'inherit', env });
    if (r.status !== 0) {
      failed++;
      console.error(`bench/${name}.ts exited with ${r.status ?? r.signal}`);
    }
  }
} finally {
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
