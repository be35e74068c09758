/**
 * Trace context and queue wait through the poller: a job's W3C `traceparent` (as Rails' OpenTelemetry
 * instrumentation writes it) reaches the handler (`job.trace`), the Invoke carries it to Lambda as
 * X-Ray's `X-Amzn-Trace-Id` (the function's `_X_AMZN_TRACE_ID`), what the handler enqueues carries
 * it on, and the time the job waited in its queue reaches the handler, the poller's log line and its
 * per-class counters. Real Redis, the local Lambda endpoint, the poller as ECS runs it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, type Stack } from '../support/stack.js';
import { Client } from '../../lib/client.js';

const t = useRedis();
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1/0', LOG_LEVEL: 'error' };
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** The jobs the `traced` handler enqueued to queue:seen, parsed. */
async function seen(): Promise<{ args: [string | null, string | null, string | null, number | null]; traceparent?: string; tracestate?: string }[]> {
  return (await t.redis.lrange('queue:seen', 0, -1)).map((p) => JSON.parse(p));
}

describe('trace context through the poller', () => {
  it('reaches the handler and Lambda (X-Ray form), and what the handler enqueues carries it on', async () => {
    // Prepare: a job enqueued 5 s ago with Rails' trace context
    stack = await startStack(t.url, [{ class: 'TracedJob', queue: 'traced', handler: 'traced', environment: NO_REDIS }]);
    const client = new Client({ redis: t.redis, now: () => Date.now() - 5000 });
    const jid = await client.push({ class: 'TracedJob', queue: 'traced', args: ['TraceSeen', 'seen'], traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7' });
    // Act
    const [reply] = await eventually(async () => ((await seen()).length > 0 ? seen() : undefined), 15_000, 'the handler to enqueue TraceSeen');
    // Assess: the handler saw the trace, Lambda got its X-Ray form, the enqueued job carries it on
    const [traceId, spanId, xray, waitMs] = reply!.args;
    expect([traceId, spanId, xray]).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1']);
    expect([reply!.traceparent, reply!.tracestate]).toEqual([TRACEPARENT, 'rojo=00f067aa0ba902b7']);
    // …and the 5 s it waited in its queue, in the handler, the poller's log line and its counters
    expect(waitMs).toBeGreaterThanOrEqual(5000);
    const line = await eventually(() => stack!.logs.find((l) => l.msg === 'done' && l.jid === jid), 10_000, "the poller's done line");
    expect(line.waitMs).toBeGreaterThanOrEqual(5000);
    expect(line.waitMs).toBeLessThanOrEqual(waitMs!);
    const counts = (stack.running.poller.snapshot() as { classes: Record<string, { queueWaits: number; queueWaitMsMax: number }> }).classes.TracedJob!;
    expect(counts.queueWaits).toBe(1);
    expect(counts.queueWaitMsMax).toBe(line.waitMs);
  });

  it('a job without trace context runs in a fresh Lambda trace and enqueues jobs without one', async () => {
    // Prepare
    stack = await startStack(t.url, [{ class: 'TracedJob', queue: 'traced', handler: 'traced', environment: NO_REDIS }]);
    await new Client({ redis: t.redis }).push({ class: 'TracedJob', queue: 'traced', args: ['TraceSeen', 'seen'] });
    // Act
    const [reply] = await eventually(async () => ((await seen()).length > 0 ? seen() : undefined), 15_000, 'the handler to enqueue TraceSeen');
    // Assess
    expect(reply!.args.slice(0, 3)).toEqual([null, null, expect.stringMatching(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/)]);
    expect(reply!.traceparent).toBeUndefined();
  });
});
