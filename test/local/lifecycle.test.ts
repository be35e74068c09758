// Starting and stopping the endpoint: bundling errors fail the start with a readable message,
// bad declarations are refused, and close() leaves no worker, socket or port behind.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BundleError, startLocalLambda } from '../../lib/local/endpoint.js';
import { fixture, invoke, invokeError, makeClient, makeFunction } from './support.js';

/** Threads of this process: every worker thread is one more. */
const threads = (): number => readdirSync('/proc/self/task').length;

describe('local lambda: lifecycle', () => {
  it('close() stops every worker, even a busy one, and frees the port', async () => {
    // Prepare: warm workers for two functions, and one spinning with a long timeout
    const baseline = threads();
    const lambda = await startLocalLambda({
      functions: [makeFunction('echo'), makeFunction('counted'), makeFunction('spin', { timeoutSeconds: 60 })],
    });
    const client = makeClient(lambda.url);
    await invoke(client, 'echo', 1);
    await invoke(client, 'counted', 1);
    const spinning = invokeError(invoke(client, 'spin', {}));
    await expect.poll(() => lambda.stats().spin?.active).toBe(1);
    expect(threads()).toBeGreaterThanOrEqual(baseline + 3);

    // Act
    const started = Date.now();
    await lambda.close();

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    await spinning; // the caller sees its connection end
    await expect.poll(threads, { timeout: 5_000 }).toBeLessThanOrEqual(baseline);
    const refused = await invokeError(invoke(client, 'echo', 1));
    expect(refused.message).toMatch(/ECONNREFUSED/);
    client.destroy();
  });

  it('fails the start with a BundleError naming the function, the entry and esbuild’s message', async () => {
    const entry = fixture('broken.ts');

    const error = await startLocalLambda({
      functions: [makeFunction('echo'), { ...makeFunction('broken'), entry, handlerExport: 'handler' }],
    }).then(
      () => null,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(BundleError);
    const { message, failures } = error as BundleError;
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ functions: ['broken'], entry });
    expect(message).toContain(`function broken: bundling ${entry} failed:`);
    expect(message).toContain('Could not resolve "./does-not-exist.js"');
  });

  it('refuses declarations Lambda would refuse, naming the function and the field', async () => {
    const cases: Array<[Parameters<typeof makeFunction>[1], string]> = [
      [{ entry: 'functions/echo.ts' }, 'local lambda: function echo: entry must be an absolute path, got functions/echo.ts'],
      [{ concurrency: 0 }, 'local lambda: function echo: concurrency must be an integer >= 1, got 0'],
      [{ memoryMb: 1.5 }, 'local lambda: function echo: memoryMb must be an integer >= 1, got 1.5'],
      [{ timeoutSeconds: 0 }, 'local lambda: function echo: timeoutSeconds must be > 0, got 0'],
      [{ name: 'Echo Job' }, 'local lambda: function Echo Job: name must be 1-64 of [A-Za-z0-9_-]'],
    ];
    for (const [overrides, message] of cases) {
      await expect(startLocalLambda({ functions: [makeFunction('echo', overrides)] })).rejects.toThrow(message);
    }
    await expect(startLocalLambda({ functions: [makeFunction('echo'), makeFunction('echo')] })).rejects.toThrow(
      'local lambda: function echo: declared twice',
    );
  });
});

describe('local lambda: invocationsPerEnvironment', () => {
  it('runs overlapping invocations in one environment, each with its own answer', async () => {
    // Prepare
    const lambda = await startLocalLambda({
      functions: [makeFunction('counted', { concurrency: 8 }), makeFunction('echo', { concurrency: 8 })],
      invocationsPerEnvironment: 8,
    });
    const client = makeClient(lambda.url);
    try {
      // Act
      const counted = await Promise.all(Array.from({ length: 4 }, () => invoke(client, 'counted', { ms: 200 })));
      const echoed = await Promise.all(Array.from({ length: 8 }, (_, i) => invoke(client, 'echo', { i })));

      // Assess
      expect(counted.map((r) => (r.body as { invocations: number }).invocations).sort()).toEqual([1, 2, 3, 4]);
      expect(echoed.map((r) => (r.body as { event: unknown }).event)).toEqual(Array.from({ length: 8 }, (_, i) => ({ i })));
      expect(lambda.stats()).toMatchObject({ counted: { environments: 1 }, echo: { environments: 1 } });
    } finally {
      client.destroy();
      await lambda.close();
    }
  });

  it('keeps one invocation per environment by default, as Lambda does', async () => {
    const lambda = await startLocalLambda({ functions: [makeFunction('counted', { concurrency: 4 })] });
    const client = makeClient(lambda.url);
    try {
      const counted = await Promise.all(Array.from({ length: 4 }, () => invoke(client, 'counted', { ms: 200 })));

      expect(counted.map((r) => (r.body as { invocations: number }).invocations)).toEqual([1, 1, 1, 1]);
      expect(lambda.stats().counted).toMatchObject({ environments: 4 });
    } finally {
      client.destroy();
      await lambda.close();
    }
  });

  it('refuses a value below 1', async () => {
    await expect(startLocalLambda({ functions: [makeFunction('echo')], invocationsPerEnvironment: 0 })).rejects.toThrow(
      'local lambda: invocationsPerEnvironment must be an integer >= 1, got 0',
    );
  });
});
