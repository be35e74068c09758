/**
 * The `sidekiq-lambda` command: dispatches to one module per subcommand under `lib/cli/`.
 * Each command is `(argv) => Promise<exit code>`; errors it throws print as one line, exit 1.
 */
import { ENV } from './config.js';
import { enqueueCommand } from './cli/enqueue.js';
import { initCommand } from './cli/init.js';
import { opsCommand, OPS_SUMMARIES as OPS } from './cli/ops.js';
import { pollerCommand } from './cli/poller.js';
import { cronCommand, CRON_SUMMARY } from './cli/cron.js';
import { routeCommand } from './cli/route.js';

export type Command = (argv: string[]) => Promise<number>;

interface Entry {
  readonly summary: string;
  readonly run: Command;
}

/** Subcommands. Each module registers itself here with a one-line summary. */
export const COMMANDS: Record<string, Entry> = {
  init: { summary: 'start using it in your repository: a job declaration, a handler, its test and a CDK app [--class C --queue q]', run: initCommand },
  dev: { summary: 'the whole stack on this machine: local Lambda endpoint, poller and scheduler against REDIS_URL', run: async (argv) => (await import('./cli/dev.js')).devCommand(argv) },
  poller: { summary: 'run the poller (the ECS entry point): drain the declared queues, invoke Lambda, record outcomes', run: pollerCommand },
  enqueue: { summary: 'enqueue a Sidekiq job: --class C --args JSON [--queue q] [--in S | --at T] [--retry N|true|false]', run: enqueueCommand },
  stats: { summary: OPS.stats!, run: opsCommand('stats') },
  queues: { summary: OPS.queues!, run: opsCommand('queues') },
  job: { summary: OPS.job!, run: opsCommand('job') },
  cancel: { summary: OPS.cancel!, run: opsCommand('cancel') },
  retry: { summary: OPS.retry!, run: opsCommand('retry') },
  kill: { summary: OPS.kill!, run: opsCommand('kill') },
  clear: { summary: OPS.clear!, run: opsCommand('clear') },
  scheduler: { summary: OPS.scheduler!, run: opsCommand('scheduler') },
  cron: { summary: CRON_SUMMARY, run: (argv) => cronCommand(argv) },
  route: { summary: 'move a job class between Ruby and Lambda: route [C] [--lambda 10% | --ruby | --pause | --resume]; alone, every class with its jobs per side', run: routeCommand() },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: sidekiq-lambda <command> [options]   (each command takes --help)',
    '',
    ...Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`),
    '',
    'Redis: --redis URL, else REDIS_URL, else redis://127.0.0.1:6379/0',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`sidekiq-lambda: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  try {
    return await entry.run(rest);
  } catch (e) {
    const err = e as Error;
    console.error(`sidekiq-lambda ${name}: ${err.message}`);
    if (process.env[ENV.debug]) console.error(err.stack);
    return 1;
  }
}
