/**
 * Processes that die with the test run: a redis-server, a poller or a Sidekiq started by a test or
 * a benchmark gets a signal from the kernel when the process that started it dies, even by kill -9
 * (Linux's parent-death signal, set by util-linux `setpriv`, which then execs the command: the pid
 * is the command's own). Where `setpriv` is missing, the command runs as is, and only the usual
 * cleanup (afterAll, finally) stops it.
 */
import { spawnSync } from 'node:child_process';

let available: boolean | undefined;

/**
 * The command and arguments to spawn so the process gets `signal` when its starter dies.
 *
 * @example
 * spawn(...tied('redis-server', ['--port', '6390']))
 * spawn(...tied('node', ['bin/sidekiq-lambda.js', 'poller'], 'TERM'), { env })
 */
export function tied(command: string, args: readonly string[], signal: 'KILL' | 'TERM' = 'KILL'): [string, string[]] {
  available ??= process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  return available ? ['setpriv', ['--pdeathsig', signal, '--', command, ...args]] : [command, [...args]];
}
