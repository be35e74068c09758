/**
 * `fakeClient()` (sidekiq-lambda/testing): the jobs it keeps in memory are byte for byte what the
 * real producer writes to Redis, for every way of enqueueing, and a handler's `job.client` writes
 * there under `runJob`.
 */
import { describe, expect, it } from 'vitest';
import { Client, defineJob, type Producer } from '../../lib/client.js';
import { jobHandler } from '../../lib/handler.js';
import { fakeClient, runJob } from '../../lib/testing.js';
import { useRedis } from '../support/redis.js';

const t = useRedis();

/** A whole second, so a float timestamp that lost its decimal point would show. */
const NOW = 1_795_334_852_000;
const JID = 'ab'.repeat(12);

describe('fakeClient', () => {
  it('keeps what push, pushBulk and performIn write to Redis, byte for byte, in push order', async () => {
    // Prepare
    const real = new Client({ redis: t.url, now: () => NOW, namespace: 'ns' });
    const fake = fakeClient({ now: () => NOW });
    const enqueue = async (c: Producer): Promise<void> => {
      await c.push({ class: 'HardJob', queue: 'low', args: [1, 'two', { k: 3.5 }], jid: JID, retry: 3, tags: ['a'] });
      await c.pushBulk({ class: 'BulkJob', args: [[1], [2]] });
      await c.performIn(60, 'LaterJob', 'x');
    };
    // Act
    await enqueue(real);
    await enqueue(fake);
    await real.close();
    // Assess: the same bytes (bulk jids are random: compare them with their jid swapped in)
    const queued = [...(await t.redis.lrange('ns:queue:low', 0, -1)), ...(await t.redis.lrange('ns:queue:default', 0, -1)).reverse()];
    const [scheduled, score] = await t.redis.zrange('ns:schedule', 0, -1, 'WITHSCORES');
    expect(fake.jobs.map((j) => j.class)).toEqual(['HardJob', 'BulkJob', 'BulkJob', 'LaterJob']);
    const withJid = (payload: string, jid: string): string => payload.replace(/"jid":"[0-9a-f]{24}"/, `"jid":"${jid}"`);
    expect(fake.jobs.slice(0, 3).map((j) => withJid(j.payload, JID))).toEqual(queued.map((p) => withJid(p, JID)));
    expect(withJid(fake.jobs[3]!.payload, JID)).toBe(withJid(scheduled!, JID));
    expect(fake.jobs[0]).toEqual({ class: 'HardJob', queue: 'low', args: [1, 'two', { k: 3.5 }], jid: JID, payload: queued[0] });
    expect(fake.jobs[3]).toMatchObject({ class: 'LaterJob', queue: 'default', args: ['x'], at: Number(score) });
    expect(fake.jobs[3]!.at).toBe(NOW / 1000 + 60);
  });

  it('is what job.client returns under runJob, ActiveJob envelope included, and clear() empties it', async () => {
    // Prepare
    const Reply = defineJob<[id: number]>('ReplyJob', { queue: 'replies' });
    const Mailer = defineJob<[id: number]>('WelcomeMailerJob', { queue: 'mailers', activeJob: true });
    const handler = jobHandler<[id: number]>(async ([id], job) => {
      await Reply.set({ client: job.client }).performAsync(id);
      await Mailer.set({ client: job.client }).performAsync(id);
    });
    const client = fakeClient();
    // Act
    const out = await runJob(handler, { class: 'TriggerJob', args: [7] }, { client });
    // Assess
    expect(out.status).toBe('ok');
    expect(client.jobs).toMatchObject([
      { class: 'ReplyJob', queue: 'replies', args: [7] },
      { class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'WelcomeMailerJob', queue: 'mailers', args: [{ job_class: 'WelcomeMailerJob', arguments: [7] }] },
    ]);
    client.clear();
    expect(client.jobs).toEqual([]);
  });

  it('refuses what the producer refuses, and never opens a connection', async () => {
    const client = fakeClient();
    await expect(client.push({ class: 'X', args: [new Date(0)] })).rejects.toThrow('args[0]: Date objects are not JSON-native');
    expect(client.jobs).toEqual([]);
  });
});
