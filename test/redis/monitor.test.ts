import { describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';
import { startMonitor } from '../../lib/poller/monitor.js';
import { PollerCounters } from '../../lib/poller/counters.js';
import { keys } from '../../lib/protocol/keys.js';
import { Client } from '../../lib/client.js';
import { METRICS_NAMESPACE, METRIC } from '../../lib/poller/metrics.js';
import { dueLag } from '../../lib/poller/monitor.js';

const t = useRedis();

describe('monitor', () => {
  it('writes queue latency and backlog, in flight, dead-set size and per-class counts as EMF lines', async () => {
    // Prepare: two jobs enqueued 30 s ago, one dead job, counts for one class
    const client = new Client({ redis: t.redis, now: () => Date.now() - 30_000 });
    await client.pushBulk({ class: 'TrackUserJob', queue: 'track', args: [[1], [2]] });
    await t.redis.zadd('dead', '1', '{"class":"X","args":[]}');
    await t.redis.hset('sidekiq-lambda:pollers', 'a', '[]', 'b', '[]');
    const counters = new PollerCounters();
    counters.processed('TrackUserJob', 5);
    counters.failed('TrackUserJob', 2);
    counters.skipped('TrackUserJob', 'expired');
    counters.skipped('TrackUserJob', 'expired');
    counters.skipped('TrackUserJob', 'unique');
    const lines: string[] = [];
    // Act
    const m = startMonitor({ redis: t.redis, keys: keys(), queues: ['track'], counters, inFlight: () => 7, running: () => 5, maxInFlight: 20, deployment: 'prod/Sidekiq', intervalMs: 50, write: (l) => lines.push(l) });
    await eventually(() => lines.length >= 3);
    m.stop();
    // Assess
    const docs = lines.map((l) => JSON.parse(l));
    for (const d of docs) {
      // every metric under this deployment's dimension, first in every dimension set
      expect(d._aws.CloudWatchMetrics[0].Namespace).toBe(METRICS_NAMESPACE);
      expect(d.Deployment).toBe('prod/Sidekiq');
      for (const set of d._aws.CloudWatchMetrics[0].Dimensions) expect(set[0]).toBe('Deployment');
    }
    const queue = docs.find((d) => d.Queue === 'track');
    expect(queue[METRIC.queueBacklog]).toBe(2);
    expect(queue[METRIC.queueLatency]).toBeGreaterThanOrEqual(29);
    const global = docs.find((d) => METRIC.inFlight in d);
    expect(global).toMatchObject({ [METRIC.inFlight]: 7, [METRIC.running]: 5, [METRIC.utilization]: 25, [METRIC.deadSetSize]: 1, [METRIC.backlogPerTask]: 1, [METRIC.scheduledLag]: 0, [METRIC.retryLag]: 0 });
    expect(global._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Deployment']]);
    const cls = docs.find((d) => d.JobClass === 'TrackUserJob');
    expect(cls).toMatchObject({ [METRIC.processed]: 5, [METRIC.failed]: 2, [METRIC.throttled]: 0, [METRIC.expired]: 2, [METRIC.uniqueSkipped]: 1 });
    expect(cls._aws.CloudWatchMetrics[0].Metrics).toContainEqual({ Name: 'Expired', Unit: 'Count' });
    // per class, and summed over the classes (the failed-job rate alarm reads the sum)
    expect(cls._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Deployment', 'JobClass'], ['Deployment']]);
  });

  it('writes how long each class\'s jobs waited in their queue (average and longest), only for classes that ran', async () => {
    // Prepare
    const counters = new PollerCounters();
    counters.waited('TrackUserJob', 1000);
    counters.waited('TrackUserJob', 3000);
    counters.processed('QuietJob', 1);
    const lines: string[] = [];
    // Act
    const m = startMonitor({ redis: t.redis, keys: keys(), queues: [], counters, inFlight: () => 0, deployment: 'prod', intervalMs: 50, write: (l) => lines.push(l) });
    await eventually(() => lines.some((l) => l.includes(METRIC.queueWait)));
    m.stop();
    // Assess
    const docs = lines.map((l) => JSON.parse(l)).filter((d) => METRIC.queueWait in d);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ Deployment: 'prod', JobClass: 'TrackUserJob', [METRIC.queueWait]: 2, [METRIC.queueWaitMax]: 3 });
    expect(docs[0]._aws.CloudWatchMetrics[0]).toMatchObject({ Dimensions: [['Deployment', 'JobClass']], Metrics: [{ Name: 'QueueWait', Unit: 'Seconds' }, { Name: 'QueueWaitMax', Unit: 'Seconds' }] });
    expect(counters.snapshot().TrackUserJob).toMatchObject({ queueWaits: 2, queueWaitMsTotal: 4000, queueWaitMsMax: 3000 });
  });

  it('measures how long the oldest due entry of schedule and retry has waited: the scheduler behind', async () => {
    // Prepare: one entry due 90 s ago, one due in the future; nothing in retry
    const now = Date.now();
    await t.redis.zadd('schedule', String((now - 90_000) / 1000), 'a', String((now + 60_000) / 1000), 'b');
    // Act / Assess
    expect(await dueLag(t.redis, 'schedule', now)).toBeCloseTo(90, 3);
    expect(await dueLag(t.redis, 'retry', now)).toBe(0);
    await t.redis.zrem('schedule', 'a');
    expect(await dueLag(t.redis, 'schedule', now)).toBe(0);
  });
});
