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
// Exit explicitly: a command that has finished (a stopped poller, say) must not linger on a
// stray timer or socket.
process.exit(await main(process.argv.slice(2)));
