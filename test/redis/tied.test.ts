/**
 * The processes tests and benchmarks start die with the run that started them, even when it is
 * killed with -9 (no afterAll, no exit handler): a throwaway redis-server must not outlive it.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/stack.js';

const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

describe.runIf(process.platform === 'linux')('processes tied to the test run', () => {
  it('a throwaway redis-server stops when the process that started it is killed with -9', async () => {
    // Prepare: a process that starts a throwaway redis-server, prints its port and stays up
    const starter = spawn(process.execPath, ['--import', 'tsx', '-e', "const m = await import('./test/support/redis.ts'); const s = await m.startRedisServer(); console.log('port', s.port); setInterval(() => {}, 1000);"], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    starter.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const port = Number((await eventually(() => /port (\d+)/.exec(out), 20_000, 'the redis-server port'))[1]);
    try {
      expect(await answers(port)).toBe(true);
      // Act
      starter.kill('SIGKILL');
      // Assess
      await eventually(async () => !(await answers(port)), 5000, 'the redis-server to stop with its starter');
    } finally {
      starter.kill('SIGKILL');
    }
  });
});
