#!/usr/bin/env node
// The `sidekiq-lambda` command. The code lives in dist/: shipped built in the npm package (built at
// `npm pack`), built by `npm install` (the `prepare` script) in a checkout of the repository.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MIN_NODE = 20;
const major = Number(process.versions.node.split('.')[0]);
if (major < MIN_NODE) {
  console.error(
    `sidekiq-lambda: Node.js ${process.versions.node} is too old; it needs Node.js ${MIN_NODE} or later, and 22 is what ` +
      'the Lambda functions and the poller image it deploys run. Install Node.js 22 (e.g. `nvm install 22`) and run it again.',
  );
  process.exit(1);
}

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  const checkout = existsSync(fileURLToPath(new URL('../lib/cli.ts', import.meta.url)));
  console.error(
    checkout
      ? 'sidekiq-lambda: dist/cli.js is missing; run `npm install` (or `npm run build`) in this repository first.'
      : `sidekiq-lambda: ${cli} is missing from the installed package; reinstall it (npm install sidekiq-lambda).`,
  );
  process.exit(1);
}
const { main } = await import(cli);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// A finished command (a stopped poller, say) must not linger on a stray timer or socket; the
// grace period lets piped output drain first.
setTimeout(() => process.exit(code), 1000).unref();
