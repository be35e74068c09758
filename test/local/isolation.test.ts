// A handler that hangs, crashes, leaks or fails at import is reported as that function's error,
// the way Lambda reports it, while another function on the same endpoint keeps answering.
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { fixture, invoke, makeClient, makeFunction, whileOtherFunctionAnswers } from './support.js';

let lambda: LocalLambda;
let client: LambdaClient;

beforeAll(async () => {
  lambda = await startLocalLambda({
    functions: [
      makeFunction('echo'),
      makeFunction('spin', { timeoutSeconds: 1 }),
      makeFunction('counted', { timeoutSeconds: 1 }),
      makeFunction('exit'),
      makeFunction('leak', { memoryMb: 64 }),
      makeFunction('unhandled'),
      makeFunction('missing'),
      { name: 'import-throws', entry: fixture('import-throws.ts'), timeoutSeconds: 5, memoryMb: 128, concurrency: 2 },
    ],
  });
  client = makeClient(lambda.url);
  await invoke(client, 'echo', 'warm up');
});

afterAll(async () => {
  client.destroy();
  await lambda.close();
});

interface ErrorBody {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

async function failing(name: string, payload: unknown = {}) {
  const started = Date.now();
  const { output, body } = await whileOtherFunctionAnswers(client, invoke(client, name, payload));
  expect(output.StatusCode).toBe(200);
  expect(output.FunctionError).toBe('Unhandled');
  return { requestId: output.$metadata.requestId, body: body as ErrorBody, ms: Date.now() - started };
}

describe('local lambda: isolation', () => {
  it('stops a handler that never returns at its timeout, answers Sandbox.Timedout, and discards the environment', async () => {
    const { requestId, body, ms } = await failing('spin');

    expect(body).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: `RequestId: ${requestId} Error: Task timed out after 1.00 seconds`,
    });
    expect(ms).toBeGreaterThanOrEqual(1_000);
    await expect.poll(() => lambda.stats().spin).toMatchObject({ active: 0, environments: 0 });
  });

  it('starts a fresh environment after a timeout, so module state does not survive it', async () => {
    const warm = await invoke(client, 'counted', {});
    const again = await invoke(client, 'counted', {});
    const timedOut = await invoke(client, 'counted', { ms: 5_000 });
    const fresh = await invoke(client, 'counted', {});

    expect(warm.body).toEqual({ invocations: 1 });
    expect(again.body).toEqual({ invocations: 2 });
    expect((timedOut.body as ErrorBody).errorType).toBe('Sandbox.Timedout');
    expect(fresh.body).toEqual({ invocations: 1 });
  });

  it('answers process.exit(1) in a handler as Runtime.ExitError, and serves the function again', async () => {
    const first = await failing('exit');
    const second = await failing('exit');

    expect(first.body).toEqual({
      errorType: 'Runtime.ExitError',
      errorMessage: `RequestId: ${first.requestId} Error: Runtime exited with error: exit status 1`,
    });
    expect(second.body.errorType).toBe('Runtime.ExitError');
  });

  it('answers a heap past the memory size as Runtime.OutOfMemory', async () => {
    const { requestId, body } = await failing('leak');

    expect(body).toEqual({
      errorType: 'Runtime.OutOfMemory',
      errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`,
    });
    await expect.poll(() => lambda.stats().leak).toMatchObject({ environments: 0 });
  });

  it('answers a module that throws at import with the init error, on every invocation', async () => {
    const first = await failing('import-throws');
    const second = await failing('import-throws');

    for (const { body } of [first, second]) {
      expect(body.errorType).toBe('Error');
      expect(body.errorMessage).toBe('config missing at import');
      expect(body.trace?.[0]).toBe('Error: config missing at import');
      expect(body.trace?.[1]).toMatch(/fixtures\/import-throws\.ts:3:\d+\)?$/);
    }
    expect(lambda.stats()['import-throws']).toMatchObject({ environments: 0 });
  });

  it('answers a missing handler export as Runtime.HandlerNotFound', async () => {
    const { body } = await failing('missing');

    expect(body.errorType).toBe('Runtime.HandlerNotFound');
    expect(body.errorMessage).toBe('handlers.missing is undefined or not exported');
  });

  it('fails the invocation on an unhandled rejection and discards the environment', async () => {
    const { body } = await failing('unhandled');

    expect(body.errorType).toBe('Runtime.UnhandledPromiseRejection');
    expect(body.errorMessage).toBe('Error: nobody awaited me');
    await expect.poll(() => lambda.stats().unhandled).toMatchObject({ environments: 0 });
  });
});
