import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useRedis } from '../support/redis.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { Heartbeat, makeIdentity, type HeartbeatSource, type RemoteSignal, type WorkEntry } from '../../lib/sidekiq/heartbeat.js';
import { Stats } from '../../lib/sidekiq/stats.js';

const t = useRedis();
const K = makeKeys();
const RAW = '{"retry":true,"queue":"default","class":"HardJob","args":[12345678901234567890],"jid":"0123456789abcdef01234567"}';

function makeSource(work: WorkEntry[] = [], quiet = false): HeartbeatSource & { q: boolean } {
  return { q: quiet, busy: () => work.length, work: () => work, quiet() { return this.q; } };
}

function makeHeartbeat(over: Partial<ConstructorParameters<typeof Heartbeat>[0]> = {}) {
  const signals: RemoteSignal[] = [];
  const stats = new Stats();
  const hb = new Heartbeat({
    redis: t.redis,
    keys: K,
    identity: makeIdentity('tshost'),
    tag: 'app',
    labels: ['blue'],
    concurrency: 7,
    queues: [{ name: 'default', weight: 2 }, { name: 'low', weight: 1 }],
    version: 'sidekiq-lambda/0.1.0',
    source: makeSource(),
    stats,
    onSignal: (s) => signals.push(s),
    ...over,
  });
  return { hb, signals, stats };
}

describe('heartbeat', () => {
  describe('makeIdentity', () => {
    it('is <hostname>:<pid>:<12 hex>', () => {
      expect(makeIdentity('web-1')).toMatch(new RegExp(`^web-1:${process.pid}:[0-9a-f]{12}$`));
    });
  });

  describe('beat', () => {
    it('registers the process with every field the Web UI needs and a 60 s TTL', async () => {
      // Prepare
      const { hb } = makeHeartbeat();
      // Act
      await hb.beat();
      // Assess
      expect(await t.redis.smembers('processes')).toEqual([hb.identity]);
      const h = await t.redis.hgetall(hb.identity);
      expect(h).toMatchObject({ concurrency: '7', busy: '0', quiet: 'false' });
      expect(Number(h.beat)).toBeCloseTo(Date.now() / 1000, 0);
      expect(Number(h.rss)).toBeGreaterThan(1000);
      expect(Number.isInteger(Number(h.rtt_us))).toBe(true);
      const info = JSON.parse(h.info!);
      expect(info).toMatchObject({
        hostname: 'tshost', pid: process.pid, tag: 'app', concurrency: 7, queues: ['default', 'low'],
        weights: [{ default: 2, low: 1 }], labels: ['blue', 'sidekiq-lambda'], identity: hb.identity,
        version: 'sidekiq-lambda/0.1.0', embedded: false,
        capsules: { default: { concurrency: 7, mode: 'weighted', weights: { default: 2, low: 1 } } },
      });
      expect(h.info).toMatch(/"started_at":\d+\.\d+,/);
      expect(await t.redis.ttl(hb.identity)).toBeGreaterThan(55);
    });

    it('writes in-flight jobs under both <id>:work and <id>:workers with run_at in seconds', async () => {
      const runAt = 1795334859123;
      const { hb } = makeHeartbeat({ source: makeSource([{ tid: 't1', queue: 'default', payload: RAW, runAt }]) });
      await hb.beat();
      for (const key of [`${hb.identity}:work`, `${hb.identity}:workers`]) {
        const w = await t.redis.hgetall(key);
        expect(Object.keys(w)).toEqual(['t1']);
        expect(w.t1).toBe(`{"queue":"default","payload":${JSON.stringify(RAW)},"run_at":1795334859}`);
        expect(await t.redis.ttl(key)).toBeGreaterThan(55);
      }
      expect(await t.redis.hget(hb.identity, 'busy')).toBe('1');
    });

    it('replaces the work hash each beat, so finished jobs disappear', async () => {
      const work: WorkEntry[] = [{ tid: 't1', queue: 'default', payload: RAW, runAt: Date.now() }];
      const { hb } = makeHeartbeat({ source: makeSource(work) });
      await hb.beat();
      work.length = 0;
      await hb.beat();
      expect(await t.redis.exists(`${hb.identity}:work`, `${hb.identity}:workers`)).toBe(0);
    });

    it('flushes processed and failed counts with the daily keys', async () => {
      const { hb, stats } = makeHeartbeat();
      stats.processed(3);
      stats.failed();
      await hb.beat();
      const day = new Date().toISOString().slice(0, 10);
      expect(await t.redis.mget('stat:processed', 'stat:failed', `stat:processed:${day}`, `stat:failed:${day}`)).toEqual(['3', '1', '3', '1']);
      expect(await t.redis.ttl(`stat:processed:${day}`)).toBeGreaterThan(157_000_000);
      expect(stats.pending()).toEqual({ processed: 0, failed: 0 });
    });

    it('delivers one remote signal per beat', async () => {
      const { hb, signals } = makeHeartbeat();
      await t.redis.lpush(`${hb.identity}-signals`, 'TSTP', 'TERM');
      await hb.beat();
      expect(signals).toEqual(['TSTP']);
      await hb.beat();
      expect(signals).toEqual(['TSTP', 'TERM']);
    });

    it('reports quiet', async () => {
      const { hb } = makeHeartbeat({ source: makeSource([], true) });
      await hb.beat();
      expect(await t.redis.hget(hb.identity, 'quiet')).toBe('true');
    });
  });

  describe('start / stop', () => {
    it('beats on start and every interval, and cleans up on stop', async () => {
      // Prepare
      const { hb, stats } = makeHeartbeat({ intervalMs: 100, source: makeSource([{ tid: 'x', queue: 'default', payload: RAW, runAt: Date.now() }]) });
      // Act
      await hb.start();
      const first = await t.redis.hget(hb.identity, 'beat');
      await new Promise((r) => setTimeout(r, 250));
      const later = await t.redis.hget(hb.identity, 'beat');
      stats.processed(2);
      await hb.stop();
      // Assess
      expect(Number(later)).toBeGreaterThan(Number(first));
      expect(await t.redis.sismember('processes', hb.identity)).toBe(0);
      expect(await t.redis.exists(`${hb.identity}:work`, `${hb.identity}:workers`)).toBe(0);
      expect(await t.redis.get('stat:processed')).toBe('2');
    });

    it('logs a failing beat and keeps the counts instead of crashing', async () => {
      const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
      const logs: { msg?: string }[] = [];
      const { hb, stats } = makeHeartbeat({ redis: dead, log: (o) => logs.push(o) });
      stats.processed(5);
      await hb.start();
      await hb.stop().catch(() => undefined);
      expect(logs.map((l) => l.msg)).toContain('heartbeat failed');
      expect(stats.pending().processed).toBe(5);
      dead.disconnect();
    });
  });
});
