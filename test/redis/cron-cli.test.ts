/**
 * `sidekiq-lambda cron` against real Redis: the list (ours and Ruby's entries, last and next run),
 * enable, disable and run. In-process, with the output and the clock captured.
 */
import { describe, expect, it } from 'vitest';
import { cronCommand } from '../../lib/cli/cron.js';
import type { Io } from '../../lib/cli/ops.js';
import { COMMANDS } from '../../lib/cli.js';
import { resolveCronEntry } from '../../lib/periodic.js';
import { Client } from '../../lib/client.js';
import { cronKeys, keys as makeKeys } from '../../lib/protocol/keys.js';
import { syncCronEntries } from '../../lib/sidekiq/cron.js';
import { useRedis } from '../support/redis.js';

const t = useRedis();
const K = makeKeys();
const NOW = Date.parse('2024-03-09T10:02:30Z');

function io(): Io & { lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { lines, errs, out: (l) => lines.push(l), err: (l) => errs.push(l), tty: false, ask: async () => '' };
}

async function prepare(): Promise<void> {
  const ck = cronKeys(K, 2);
  await syncCronEntries({ redis: t.redis, keys: K, cron: ck, namespaces: ['default'], client: new Client({ redis: t.redis, now: () => NOW }) }, [
    resolveCronEntry({ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*/5 * * * *' }),
  ], { now: NOW });
  // One Ruby wrote, last run at 10:00:02, with an expression we leave to Ruby.
  await t.redis.hset(ck.hash('cron_job:default:weekly'), { name: 'weekly', namespace: 'default', klass: 'WeeklyJob', cron: '0 0 * * mon%2', status: 'disabled', last_enqueue_time: '2024-03-04 00:00:02 +0000', message: '{"queue":"low","class":"WeeklyJob","args":[]}' });
  await t.redis.sadd(ck.jobs('default'), 'cron_job:default:weekly');
}

const run = (argv: string[], o: Io) => cronCommand([...argv, '--redis', t.url, '--cron-version', '2'], o, () => NOW);

describe('sidekiq-lambda cron', () => {
  it('is registered with the other commands', () => {
    expect(Object.keys(COMMANDS)).toContain('cron');
  });

  it('lists every entry with status, expression, class, queue, last run and next run', async () => {
    // Prepare
    await prepare();
    const o = io();
    // Act
    const code = await run([], o);
    // Assess
    expect(code).toBe(0);
    expect(o.errs).toEqual(['sidekiq-cron 2.x keys (configured (SIDEKIQ_CRON_VERSION))']);
    expect(o.lines).toEqual([
      'NAME     NAMESPACE  STATUS    CRON             CLASS       QUEUE        LAST RUN                 NEXT RUN                 FROM',
      'cleanup  default    enabled   */5 * * * * UTC  CleanupJob  maintenance  -                        2024-03-09 10:05:00 UTC  sidekiq-lambda.config.ts',
      'weekly   default    disabled  0 0 * * mon%2    WeeklyJob   low          2024-03-04 00:00:02 UTC  ? (below)                Ruby',
      '',
      expect.stringMatching(/^weekly: not fired by sidekiq-lambda \(Ruby's sidekiq-cron may fire it\): '0 0 \* \* mon%2': field 5 \(day of week\) 'mon%2': the '%' \(every n-th week\) modifier is not supported/),
    ]);
  });

  it('lists as JSON', async () => {
    await prepare();
    const o = io();
    expect(await run(['list', '--json'], o)).toBe(0);
    expect(JSON.parse(o.lines[0]!)).toEqual([
      { name: 'cleanup', namespace: 'default', status: 'enabled', cron: '*/5 * * * * UTC', class: 'CleanupJob', queue: 'maintenance', lastRun: null, nextRun: '2024-03-09T10:05:00.000Z', declared: true, problem: null },
      { name: 'weekly', namespace: 'default', status: 'disabled', cron: '0 0 * * mon%2', class: 'WeeklyJob', queue: 'low', lastRun: '2024-03-04T00:00:02.000Z', nextRun: null, declared: false, problem: expect.stringContaining('every n-th week') },
    ]);
  });

  it('disables, enables and runs an entry by name; says so when there is none', async () => {
    // Prepare
    await prepare();
    const o = io();
    // Act
    const codes = [await run(['disable', 'cleanup'], o), await run(['enable', 'weekly'], o), await run(['run', 'cleanup'], o), await run(['disable', 'nope'], o)];
    // Assess
    expect(codes).toEqual([0, 0, 0, 1]);
    expect(o.lines.slice(0, 2)).toEqual(['cleanup disabled', 'weekly enabled']);
    expect(o.lines[2]).toMatch(/^[0-9a-f]{24}$/);
    expect(o.errs).toEqual(['no cron entry "nope" in namespace default: `sidekiq-lambda cron` lists them']);
    expect(await t.redis.hget('cron_job:default:cleanup', 'status')).toBe('disabled');
    expect(await t.redis.hget('cron_job:default:weekly', 'status')).toBe('enabled');
    expect(JSON.parse((await t.redis.lindex('queue:maintenance', 0))!)).toMatchObject({ class: 'CleanupJob', jid: o.lines[2] });
  });

  it('refuses an unknown action and a missing name', async () => {
    await expect(run(['pause', 'x'], io())).rejects.toThrow('unknown cron action "pause": list, enable, disable or run');
    await expect(run(['run'], io())).rejects.toThrow("cron run needs the entry's name");
  });
});
