/**
 * Promotion racing real Ruby Sidekiq, every entry of the matrix: two of our promoters and
 * `Sidekiq::Scheduled::Enq` on the same due jobs; each job must end up in its queue exactly once.
 */
import { describe, expect, it } from 'vitest';
import { forEachSidekiq } from '../support/ruby.js';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { promoteDue } from '../../lib/sidekiq/scheduled.js';

const t = useRedis();
const K = makeKeys();

const jidOf = (i: number): string => i.toString(16).padStart(24, '0');
const job = (i: number): string =>
  `{"retry":true,"queue":"${i % 2 ? 'low' : 'default'}","class":"HardJob","args":[${i},12345678901234567890,1.0],"jid":"${jidOf(i)}","created_at":1795334800.1234567}`;

async function seed(n: number): Promise<void> {
  for (let start = 0; start < n; start += 5000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(n, start + 5000); i++) args.push(String(1700000000 + i / 1000), job(i));
    await t.redis.zadd(i2set(start), ...args);
  }
}
// 20,000 of the jobs are retries, the rest scheduled: both sets are raced.
const i2set = (start: number): string => (start % 15000 === 0 ? K.retry : K.schedule);

/** `Sidekiq::Scheduled::Enq` as each version builds it: 7.x takes the configuration. */
const NEW_ENQ = 'Sidekiq::Scheduled::Enq.new(*(Sidekiq.respond_to?(:default_configuration) ? [Sidekiq.default_configuration] : []))';

forEachSidekiq((sk) => describe('promotion racing Ruby Sidekiq', () => {
  it('two of our promoters and Sidekiq::Scheduled::Enq move 50,000 due jobs, each exactly once', async () => {
    // Prepare
    const n = 50_000;
    await seed(n);
    const ruby = sk.spawn(['-e', `
      require 'sidekiq'; require 'sidekiq/scheduled'
      Sidekiq.logger.level = :warn
      Sidekiq.redis { |c| c.set('ruby-ready', '1') }
      sleep 0.005 until Sidekiq.redis { |c| c.get('go') }
      ${NEW_ENQ}.enqueue_jobs
      puts 'done'
    `], t.url);
    let rubyErr = '';
    ruby.stderr?.on('data', (d) => (rubyErr += String(d)));
    const rubyDone = new Promise<number>((resolve) => ruby.on('exit', (code) => resolve(code ?? -1)));
    while ((await t.redis.get('ruby-ready')) === null) await new Promise((r) => setTimeout(r, 20));
    const other = t.redis.duplicate();
    // Act: small batches keep our promoters busy long enough to overlap Ruby's whole start.
    await t.redis.set('go', '1');
    await new Promise((r) => setTimeout(r, 50));
    const [a, b] = await Promise.all([
      promoteDue({ redis: t.redis, keys: K, batchSize: 100 }),
      promoteDue({ redis: other, keys: K, batchSize: 100 }),
    ]);
    const code = await rubyDone;
    other.disconnect();
    // Assess
    expect([code, rubyErr.split('\n').filter((l) => /Error/.test(l))]).toEqual([0, []]);
    const ours = a.promoted + b.promoted;
    const rubyMoved = n - ours;
    console.log(`promoted: ours ${a.promoted} + ${b.promoted}, Ruby ${rubyMoved}`);
    expect(rubyMoved).toBeGreaterThan(0); // Ruby really raced us
    expect(a.promoted).toBeGreaterThan(0);
    expect(b.promoted).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (const q of ['default', 'low']) {
      const list = await t.redis.lrange(K.queue(q), 0, -1);
      for (const raw of list) {
        const j = JSON.parse(raw) as { jid: string; queue: string; args: unknown[] };
        expect(j.queue).toBe(q);
        counts.set(j.jid, (counts.get(j.jid) ?? 0) + 1);
      }
    }
    expect(counts.size).toBe(n);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(await t.redis.zcard(K.schedule)).toBe(0);
    expect(await t.redis.zcard(K.retry)).toBe(0);
    expect(await t.redis.smembers(K.queues).then((s) => s.sort())).toEqual(['default', 'low']);
  });

  it('jobs we promote are read by Ruby as Sidekiq would have pushed them', async () => {
    await t.redis.zadd(K.retry, '1700000000.0', job(1));
    await promoteDue({ redis: t.redis, keys: K, version: 7 });
    const out = sk.run(`
      require 'sidekiq/api'
      j = Sidekiq::Queue.new('low').first
      print [j.jid, j.klass, j.args.inspect, j.enqueued_at.class, Sidekiq::Queue.new('low').latency < 5].join('|')
    `, t.url);
    expect(out).toBe(`${jidOf(1)}|HardJob|[1, 12345678901234567890, 1.0]|Time|true`);
  });
}));
