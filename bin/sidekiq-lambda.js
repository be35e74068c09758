#!/usr/bin/env node
// The `sidekiq-lambda` command. The code lives in dist/, built by `npm install` (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('sidekiq-lambda: dist/cli.js is missing; run `npm install` (or `npm run build`) first.');
  process.exit(1);
}
const { main } = await import(cli);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A finished command (a stopped poller, say) must not linger on a stray timer or socket; the
// grace period lets piped output drain first.
setTimeout(() => process.exit(code), 1000).unref();
