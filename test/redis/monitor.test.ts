import { describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';
import { startMonitor } from '../../lib/poller/monitor.js';
import { PollerCounters } from '../../lib/poller/counters.js';
import { keys } from '../../lib/protocol/keys.js';
import { Client } from '../../lib/client.js';
import { METRICS_NAMESPACE, METRIC } from '../../lib/poller/metrics.js';

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
    const lines: string[] = [];
    // Act
    const m = startMonitor({ redis: t.redis, keys: keys(), queues: ['track'], counters, inFlight: () => 7, intervalMs: 50, write: (l) => lines.push(l) });
    await eventually(() => lines.length >= 3);
    m.stop();
    // Assess
    const docs = lines.map((l) => JSON.parse(l));
    for (const d of docs) expect(d._aws.CloudWatchMetrics[0].Namespace).toBe(METRICS_NAMESPACE);
    const queue = docs.find((d) => d.Queue === 'track');
    expect(queue[METRIC.queueBacklog]).toBe(2);
    expect(queue[METRIC.queueLatency]).toBeGreaterThanOrEqual(29);
    const global = docs.find((d) => METRIC.inFlight in d);
    expect(global).toMatchObject({ [METRIC.inFlight]: 7, [METRIC.deadSetSize]: 1, [METRIC.backlogPerTask]: 1 });
    const cls = docs.find((d) => d.JobClass === 'TrackUserJob');
    expect(cls).toMatchObject({ [METRIC.processed]: 5, [METRIC.failed]: 2, [METRIC.throttled]: 0 });
  });
});
