/**
 * A job's trace context and queue wait in the handler (`job.trace`, `job.queueWaitMs`), and the
 * trace carried on to what the job enqueues (`propagateTrace`, installed by `jobHandler`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, jobHandler, producerMiddleware, propagateTrace, useProducer, type JobContext } from '../../lib/handler.js';
import { buildPayload, runJob, runJobs } from '../../lib/testing.js';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const OTHER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

const removers: (() => void)[] = [];
afterEach(() => {
  while (removers.length) removers.pop()!();
});

/** The payloads a run enqueued, parsed. */
const enqueued = (out: Awaited<ReturnType<typeof runJob>>) => out.enqueuedJobs.map((j) => JSON.parse(j.payload) as Record<string, unknown>);

describe('handler trace context', () => {
  it('job.trace holds the payload\'s W3C context, parsed; undefined without one', async () => {
    // Prepare
    const seen: JobContext[] = [];
    const handler = jobHandler((_args, job) => void seen.push(job));
    // Act
    await runJob(handler, { class: 'A', traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE' });
    await runJob(handler, { class: 'A' });
    // Assess
    expect(seen.map((j) => j.trace)).toEqual([
      { traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true },
      undefined,
    ]);
  });

  it('stamps the job logger with the trace id', async () => {
    // Prepare
    const handler = jobHandler((_args, job) => job.logger.info('working'));
    // Act
    const out = await runJob(handler, { class: 'A', traceparent: PARENT });
    // Assess
    expect(out.logs.find((l) => l.msg === 'working')).toMatchObject({ class: 'A', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
  });

  it('jobs the handler enqueues carry its traceparent, tracestate and baggage — job.client and defineJob alike', async () => {
    // Prepare
    const Reply = defineJob<[string]>('ReplyJob');
    const handler = jobHandler(async (_args, job) => {
      await job.client.performIn(60, 'LaterJob');
      await Reply.performAsync('x');
      await job.client.pushBulk({ class: 'BulkJob', args: [[1], [2]] });
    });
    // Act
    const out = await runJob(handler, { class: 'A', traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE', baggage: 'tenant=acme' });
    // Assess
    expect(enqueued(out).map((p) => [p.class, p.traceparent, p.tracestate, p.baggage])).toEqual([
      ['LaterJob', PARENT, 'congo=t61rcWkgMzE', 'tenant=acme'],
      ['ReplyJob', PARENT, 'congo=t61rcWkgMzE', 'tenant=acme'],
      ['BulkJob', PARENT, 'congo=t61rcWkgMzE', 'tenant=acme'],
      ['BulkJob', PARENT, 'congo=t61rcWkgMzE', 'tenant=acme'],
    ]);
  });

  it('a push that sets its own traceparent keeps it', async () => {
    // Prepare
    const handler = jobHandler(async (_args, job) => {
      await job.client.push({ class: 'Own', args: [], traceparent: OTHER });
    });
    // Act
    const out = await runJob(handler, { class: 'A', traceparent: PARENT, tracestate: 'a=b' });
    // Assess
    expect(enqueued(out)[0]).toMatchObject({ traceparent: OTHER });
    expect(enqueued(out)[0]!.tracestate).toBeUndefined();
  });

  it('runs first in the producer chain, so a middleware of the user sees (and may replace) the context', async () => {
    // Prepare
    const seen: unknown[] = [];
    removers.push(useProducer((job, next) => (seen.push(job.traceparent), (job.traceparent = OTHER), next())));
    const handler = jobHandler(async (_args, job) => void (await job.client.performAsync('B')));
    // Act
    const out = await runJob(handler, { class: 'A', traceparent: PARENT });
    // Assess
    expect(producerMiddleware.entries[0]).toBe(propagateTrace);
    expect(seen).toEqual([PARENT]);
    expect(enqueued(out)[0]).toMatchObject({ traceparent: OTHER });
  });

  it('jobs of one batch running at once each carry their own job\'s context', async () => {
    // Prepare
    const handler = jobHandler(
      async (args, job) => {
        await new Promise((r) => setTimeout(r, Number(args[0])));
        await job.client.performAsync('Reply', job.jid);
      },
      { concurrency: 2 },
    );
    // Act
    const { results } = await runJobs(handler, [
      { class: 'A', args: [30], jid: 'aaaaaaaaaaaaaaaaaaaaaaaa', traceparent: PARENT },
      { class: 'A', args: [0], jid: 'bbbbbbbbbbbbbbbbbbbbbbbb', traceparent: OTHER },
    ]);
    // Assess
    const carried = results.map((r) => (r.status === 'ok' ? r.enqueued!.map((e) => JSON.parse(e.payload) as { args: string[]; traceparent: string }) : []));
    expect(carried.map((c) => [c[0]!.args[0], c[0]!.traceparent])).toEqual([
      ['aaaaaaaaaaaaaaaaaaaaaaaa', PARENT],
      ['bbbbbbbbbbbbbbbbbbbbbbbb', OTHER],
    ]);
  });

  it('a job without trace context enqueues jobs without one', async () => {
    // Prepare
    const handler = jobHandler(async (_args, job) => void (await job.client.performAsync('B')));
    // Act
    const out = await runJob(handler, { class: 'A' });
    // Assess
    expect(Object.keys(enqueued(out)[0]!)).not.toContain('traceparent');
  });

  it('removed from the chain, it stays removed for later handlers', async () => {
    // Prepare
    producerMiddleware.remove(propagateTrace);
    removers.push(() => producerMiddleware.prepend(propagateTrace));
    const handler = jobHandler(async (_args, job) => void (await job.client.performAsync('B')));
    // Act
    const out = await runJob(handler, { class: 'A', traceparent: PARENT });
    // Assess
    expect(producerMiddleware.has(propagateTrace)).toBe(false);
    expect(enqueued(out)[0]!.traceparent).toBeUndefined();
  });
});

describe('handler queue wait', () => {
  it('job.queueWaitMs is the time from enqueued_at to the start of the run', async () => {
    // Prepare
    const seen: JobContext[] = [];
    const handler = jobHandler((_args, job) => void seen.push(job));
    const before = Date.now();
    // Act
    await runJob(handler, { class: 'A' }, { now: before - 5000 });
    // Assess
    expect(seen[0]!.queueWaitMs).toBeGreaterThanOrEqual(5000);
    expect(seen[0]!.queueWaitMs).toBeLessThan(5000 + 60_000);
  });

  it('is undefined for a payload without enqueued_at (from a producer that does not set it)', async () => {
    // Prepare
    const seen: JobContext[] = [];
    const handler = jobHandler((_args, job) => void seen.push(job));
    const raw = buildPayload({ class: 'A' }).replace(/,"enqueued_at":[0-9.]+/, '');
    // Act
    await runJob(handler, raw);
    // Assess
    expect(raw).not.toContain('enqueued_at');
    expect(seen[0]!.queueWaitMs).toBeUndefined();
  });
});
