/**
 * Both Lambda ports — the SDK's InvokeCommand and the direct signed path — against the local
 * endpoint, classifying every answer the poller must tell apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { DirectInvoker, SdkInvoker, type InvokeResult, type Invoker } from '../../lib/lambda/invoker.js';
import { makeEvent } from '../../lib/protocol/event.js';
import { HANDLERS } from '../support/stack.js';

let lambda: LocalLambda;
beforeAll(async () => {
  lambda = await startLocalLambda({
    port: 0,
    functions: [
      { name: 'ok', entry: HANDLERS, handlerExport: 'batch', timeoutSeconds: 5, memoryMb: 128, concurrency: 5, environment: { REDIS_URL: 'redis://127.0.0.1:1/0' } },
      { name: 'slow', entry: HANDLERS, handlerExport: 'slow', timeoutSeconds: 1, memoryMb: 128, concurrency: 1, environment: {} },
      // Room for a cold start on a loaded machine: only the second, concurrent call may fail (429).
      { name: 'busy', entry: HANDLERS, handlerExport: 'slow', timeoutSeconds: 20, memoryMb: 128, concurrency: 1, environment: {} },
      { name: 'traced', entry: HANDLERS, handlerExport: 'traced', timeoutSeconds: 5, memoryMb: 128, concurrency: 1, environment: {} },
    ],
  });
});
afterAll(() => lambda.close());

const TRACEPARENT = '00-4efaaf4d1e8720b39541901950019ee5-53995c3f42cd8ad8-01';
const XRAY = 'Root=1-4efaaf4d-1e8720b39541901950019ee5;Parent=53995c3f42cd8ad8;Sampled=1';
/** The one job the `traced` handler enqueued: its args and payload. */
const tracedAnswer = (r: InvokeResult) => {
  const enqueued = (r as { body: { results: { enqueued: { payload: string }[] }[] } }).body.results[0]!.enqueued[0]!;
  return JSON.parse(enqueued.payload) as { args: unknown[]; traceparent?: string };
};

const event = (args: unknown[] = []) => JSON.stringify(makeEvent([{ payload: JSON.stringify({ class: 'J', args, jid: 'a'.repeat(24), queue: 'q' }), queue: 'q' }]));

describe.each([
  ['DirectInvoker', (url: string) => new DirectInvoker({ maxSockets: 10, maxTimeoutSeconds: 5, endpoint: url, localCredentials: true })],
  ['SdkInvoker', (url: string) => new SdkInvoker({ maxSockets: 10, maxTimeoutSeconds: 5, endpoint: url, localCredentials: true })],
] as const)('%s', (_name, make) => {
  let inv: Invoker;
  beforeAll(() => {
    inv = make(lambda.url);
  });
  afterAll(() => inv.close());

  it('returns the function\'s response', async () => {
    // the batch handler records to an unreachable Redis, so its one job fails — inside a normal response
    const r = await inv.invoke('ok', event(['x']), 5);
    expect(r.kind).toBe('response');
    expect((r as { body: { results: { status: string }[] } }).body.results[0]!.status).toBe('failed');
  });
  it('classifies a timeout as a function error', async () => {
    const r = await inv.invoke('slow', event([3]), 1);
    expect(r).toMatchObject({ kind: 'function-error', body: { errorType: 'Sandbox.Timedout' } });
  });
  it('classifies 429 as throttled', async () => {
    const [a, b] = await Promise.all([inv.invoke('busy', event([0.5]), 20), inv.invoke('busy', event([0.5]), 20)]);
    expect([a.kind, b.kind].sort()).toEqual(['response', 'throttled']);
  });
  it('classifies 413 as too large', async () => {
    expect((await inv.invoke('ok', event(['x'.repeat(7 * 1024 * 1024)]), 5)).kind).toBe('too-large');
  });
  it('classifies an unknown function as a configuration error', async () => {
    expect(await inv.invoke('missing', event(), 5)).toMatchObject({ kind: 'config', errorType: 'ResourceNotFoundException' });
  });
  it("sends the trace as X-Amzn-Trace-Id: the function's _X_AMZN_TRACE_ID; the job's context reaches job.trace and what it enqueues", async () => {
    // Prepare
    const payload = JSON.stringify({ class: 'J', args: [], jid: 'a'.repeat(24), queue: 'q', traceparent: TRACEPARENT });
    // Act
    const r = await inv.invoke('traced', JSON.stringify(makeEvent([{ payload, queue: 'q' }])), 5, XRAY);
    // Assess
    expect(r.kind).toBe('response');
    const seen = tracedAnswer(r);
    expect(seen.args.slice(0, 3)).toEqual(['4efaaf4d1e8720b39541901950019ee5', '53995c3f42cd8ad8', XRAY]);
    expect(seen.traceparent).toBe(TRACEPARENT);
  });
  it('without a trace, the function gets a fresh one from Lambda', async () => {
    const seen = tracedAnswer(await inv.invoke('traced', event(), 5));
    expect(seen.args.slice(0, 3)).toEqual([null, null, expect.stringMatching(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/)]);
    expect(seen.traceparent).toBeUndefined();
  });
});

describe('invoker configuration', () => {
  it('turns SDK retries off, so the poller alone decides retries', async () => {
    const inv = new SdkInvoker({ maxSockets: 300, maxTimeoutSeconds: 60, endpoint: 'http://127.0.0.1:9', localCredentials: true });
    expect(await inv.client.config.maxAttempts()).toBe(1);
    inv.close();
  });
  it('answers unknown (at-least-once) when nothing listens', async () => {
    for (const inv of [new DirectInvoker({ maxSockets: 1, maxTimeoutSeconds: 1, endpoint: 'http://127.0.0.1:9', localCredentials: true }), new SdkInvoker({ maxSockets: 1, maxTimeoutSeconds: 1, endpoint: 'http://127.0.0.1:9', localCredentials: true })]) {
      expect((await inv.invoke('x', event(), 1)).kind).toBe('unknown');
      inv.close();
    }
  });
});
