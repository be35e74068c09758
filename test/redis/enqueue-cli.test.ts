/**
 * `sidekiq-lambda enqueue`, run as a user runs it: `node bin/sidekiq-lambda.js enqueue …` against
 * the built dist/ and a real Redis.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';

const t = useRedis();
const root = fileURLToPath(new URL('../..', import.meta.url));

beforeAll(() => {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
}, 120_000);

function cli(...argv: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['bin/sidekiq-lambda.js', 'enqueue', ...argv], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: t.url },
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function queued(queue = 'default'): Promise<Record<string, unknown>[]> {
  return (await t.redis.lrange(`queue:${queue}`, 0, -1)).map((s) => JSON.parse(s) as Record<string, unknown>);
}

describe('sidekiq-lambda enqueue', () => {
  it('pushes the job to REDIS_URL and prints only its jid', async () => {
    const r = cli('--class', 'HardWorker', '--args', '[1,"two",{"k":3.5}]');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^[0-9a-f]{24}\n$/);
    const [job] = await queued();
    expect(job).toMatchObject({ class: 'HardWorker', args: [1, 'two', { k: 3.5 }], queue: 'default', retry: true, jid: r.out.trim() });
    expect(await t.redis.smembers('queues')).toEqual(['default']);
  });

  it('--queue and --retry set the queue and retry', async () => {
    const r = cli('--class', 'A', '--args', '[]', '--queue', 'critical', '--retry', '3');
    expect(r.code).toBe(0);
    expect((await queued('critical'))[0]).toMatchObject({ queue: 'critical', retry: 3, jid: r.out.trim() });
    cli('--class', 'A', '--queue', 'never', '--retry', 'false');
    expect((await queued('never'))[0]).toMatchObject({ retry: false, args: [] });
  });

  it('--redis overrides REDIS_URL', async () => {
    const u = new URL(t.url);
    u.pathname = `/${(Number(u.pathname.slice(1)) + 1) % 16}`;
    const r = spawnSync(process.execPath, ['bin/sidekiq-lambda.js', 'enqueue', '--class', 'A', '--redis', u.toString()], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1/0' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const other = t.redis.duplicate({ db: Number(u.pathname.slice(1)) });
    try {
      expect(JSON.parse((await other.lpop('queue:default'))!)).toMatchObject({ jid: r.stdout.trim() });
    } finally {
      other.disconnect();
    }
  });

  it('--in SECONDS schedules the job that far ahead, without `at` in the payload', async () => {
    const before = Date.now() / 1000;
    const r = cli('--class', 'A', '--args', '[1]', '--in', '120');
    const after = Date.now() / 1000;
    expect(r.code).toBe(0);
    const [member, score] = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
    expect(JSON.parse(member!)).toMatchObject({ class: 'A', args: [1], jid: r.out.trim() });
    expect(member).not.toContain('"at"');
    expect(Number(score)).toBeGreaterThanOrEqual(before + 120);
    expect(Number(score)).toBeLessThanOrEqual(after + 120);
    expect(await t.redis.exists('queue:default')).toBe(0);
  });

  it('--at takes epoch seconds', async () => {
    const at = Math.floor(Date.now() / 1000) + 3600;
    const r = cli('--class', 'A', '--at', String(at));
    expect(r.code).toBe(0);
    expect(await t.redis.zscore('schedule', (await t.redis.zrange('schedule', 0, 0))[0]!)).toBe(String(at));
  });

  it('--at takes an ISO-8601 time', async () => {
    const iso = new Date(Date.now() + 7200_000).toISOString();
    const r = cli('--class', 'A', '--at', iso);
    expect(r.code).toBe(0);
    const [, score] = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
    expect(Number(score) * 1000).toBeCloseTo(Date.parse(iso), 0);
  });

  it('--at in the past pushes immediately', async () => {
    const r = cli('--class', 'A', '--at', '2001-09-09T01:46:40Z');
    expect(r.code).toBe(0);
    expect(await t.redis.zcard('schedule')).toBe(0);
    expect((await queued())[0]).toMatchObject({ jid: r.out.trim() });
  });

  it.each([
    [['--class', 'A', '--args', '[1,'], /--args is not valid JSON/],
    [['--class', 'A', '--args', '{"a":1}'], /--args must be a JSON array/],
    [['--class', 'A', '--args', '5'], /--args must be a JSON array/],
    [['--class', 'A', '--retry', 'maybe'], /--retry must be a non-negative integer, true or false, got "maybe"/],
    [['--class', 'A', '--retry=-1'], /--retry must be a non-negative integer, true or false, got "-1"/],
    [['--args', '[]'], /--class is required/],
    [['--class', 'A', '--in', 'soon'], /--in must be a number of seconds, got "soon"/],
    [['--class', 'A', '--at', 'tomorrow'], /--at must be epoch seconds or an ISO-8601 time, got "tomorrow"/],
    [['--class', 'A', '--in', '5', '--at', '1900000000'], /give --in or --at, not both/],
    [['--class', 'A', '--queue', 'has space'], /queue: "has space" may only contain/],
    [['--class', 'A', '--args', '["\\ud800"]'], /args\[0\]: contains a lone UTF-16 surrogate/],
    [['--class', 'A', '--bogus'], /bogus/],
  ])('%j exits non-zero saying what is wrong, and enqueues nothing', async (argv, message) => {
    const r = cli(...argv);
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(await t.redis.dbsize()).toBe(0);
  });

  it('exits non-zero within a bounded time, naming the server, when Redis is unreachable', () => {
    const started = Date.now();
    const r = cli('--class', 'A', '--redis', 'redis://127.0.0.1:1/0');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^sidekiq-lambda enqueue: Redis at redis:\/\/127\.0\.0\.1:1\/0 is unreachable after \d+ ms: connect ECONNREFUSED/);
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('prints usage with --help', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('--class C');
    expect(r.out).toContain('--retry R');
  });
});
