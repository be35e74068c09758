/**
 * `sidekiq-lambda dev`, as a newcomer runs it: starts on a free Redis, reports ready, runs jobs from
 * the declarations through the local Lambda endpoint, promotes a retry when it is due, and stops
 * cleanly on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { buildCli } from '../support/poller-process.js';
import { eventually } from '../support/stack.js';
import { tied } from '../support/tied.js';
import { Client } from '../../lib/client.js';

const t = useRedis();
let dev: ChildProcess | undefined;
let out = '';
beforeAll(() => buildCli());
afterEach(async () => {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    dev.kill('SIGKILL');
    await new Promise((r) => dev!.once('exit', r));
  }
  dev = undefined;
  out = '';
});

/** Whether something accepts connections on this port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function startDev(env: Record<string, string>, args: string[] = []): Promise<void> {
  dev = spawn(...tied('node', ['bin/sidekiq-lambda.js', 'dev', ...args], 'TERM'), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return eventually(() => out.includes('ready'), 30_000, `dev to print ready; output so far:\n${out}`).then(() => undefined);
}

describe('sidekiq-lambda dev', () => {
  it('serves the declared jobs, reports ready, and stops cleanly on SIGTERM', async () => {
    // Prepare / Act
    await startDev({ REDIS_URL: t.url });
    const client = new Client({ redis: t.redis });
    const jid = await client.push({ class: 'EchoJob', queue: 'diagnostics', args: [1, 'two', { k: 3.5 }] });
    // Assess: the reply lands with the EchoJob's jid and its args exactly
    const reply = await eventually(async () => (await t.redis.lrange('queue:echo_replies', 0, -1))[0], 20_000, 'the echo reply');
    expect(JSON.parse(reply).args).toEqual([jid, [1, 'two', { k: 3.5 }]]);
    // One readable line per outcome (written just after the reply lands).
    await eventually(() => new RegExp(`done jid=${jid} class=EchoJob`).test(out), 10_000, 'the outcome line');
    dev!.kill('SIGTERM');
    const code = await new Promise((r) => dev!.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(out).toContain('stopped');
    expect(await t.redis.scard('processes')).toBe(0);
  });

  it('runs a retry scheduled two seconds ahead about two seconds later', async () => {
    await startDev({ REDIS_URL: t.url });
    // A FailJob whose retry is due in 2 s: the scheduler loop promotes it, the poller runs it again.
    const payload = JSON.stringify({ retry: 1, queue: 'diagnostics', class: 'FailJob', args: ['again'], jid: 'ab'.repeat(12), created_at: Date.now() / 1000, failed_at: Date.now() / 1000, retry_count: 0, error_class: 'Error', error_message: 'first' });
    const due = Date.now() + 2000;
    await t.redis.zadd('retry', String(due / 1000), payload);
    const dead = await eventually(async () => {
      const d = await t.redis.zrange('dead', 0, -1, 'WITHSCORES');
      return d.length > 0 ? d : undefined;
    }, 15_000, 'the retried job to die');
    const diedAt = Number(dead[1]) * 1000;
    expect(diedAt - due).toBeGreaterThanOrEqual(0);
    expect(diedAt - due).toBeLessThan(2000);
    expect(JSON.parse(dead[0]!)).toMatchObject({ jid: 'ab'.repeat(12), retry_count: 1, error_message: 'again' });
  });

  it('fires the periodic jobs of the declarations file: the entry lands in sidekiq-cron’s keys and its job runs', async () => {
    // Prepare: EchoJob every second, declared in a declarations file of its own.
    const dir = mkdtempSync(join(tmpdir(), 'skl-dev-cron-'));
    const lib = (p: string) => JSON.stringify(fileURLToPath(new URL(`../../${p}`, import.meta.url)));
    const config = join(dir, 'sidekiq-lambda.config.ts');
    writeFileSync(config, `import { defineJobs } from ${lib('lib/jobs.ts')};
export default defineJobs([{ class: 'EchoJob', queue: 'diagnostics', entry: ${lib('functions/diagnostics.ts')}, handlerExport: 'echo', needsRedis: true,
  cron: { name: 'echo every second', cron: '* * * * * *', args: ['tick'] } }]);`);
    try {
      // Act
      await startDev({ REDIS_URL: t.url, SIDEKIQ_CRON_VERSION: '2' }, ['--config', config]);
      // Assess
      const reply = await eventually(async () => (await t.redis.lrange('queue:echo_replies', 0, -1))[0], 20_000, 'the periodic echo reply');
      expect(JSON.parse(reply).args[1]).toEqual(['tick']);
      expect(await t.redis.smembers('cron_jobs:default')).toEqual(['cron_job:default:echo every second']);
      expect(await t.redis.hget('cron_job:default:echo every second', 'last_enqueue_time')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts a throwaway redis-server when nothing answers at REDIS_URL, says so, and never leaves it behind', async () => {
    await startDev({ REDIS_URL: 'redis://127.0.0.1:1/0' });
    const m = /nothing answers at redis:\/\/127\.0\.0\.1:1.*started a throwaway redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    expect(m).not.toBeNull();
    const port = Number(m![1]);
    expect(await answers(port)).toBe(true);
    // Dev dies without a word (kill -9): its Redis goes too
    dev!.kill('SIGKILL');
    await new Promise((r) => dev!.once('exit', r));
    await eventually(async () => !(await answers(port)), 10_000, 'the throwaway redis-server to stop');
  });
});
