// The Invoke API as the real @aws-sdk/client-lambda sees it: success, Event, DryRun, function
// errors, and the service errors (404, 413, 429, 400) with the exception class the SDK surfaces.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { invoke, invokeError, makeClient, makeFunction } from './support.js';

let lambda: LocalLambda;
let client: LambdaClient;

beforeAll(async () => {
  lambda = await startLocalLambda({
    functions: [
      makeFunction('echo', { environment: { GREETING: 'hola' }, memoryMb: 192 }),
      makeFunction('fail'),
      makeFunction('callback'),
      makeFunction('sleep', { concurrency: 1 }),
      makeFunction('length'),
      makeFunction('record', { concurrency: 1 }),
      makeFunction('big'),
    ],
  });
  client = makeClient(lambda.url);
});

afterAll(async () => {
  client.destroy();
  await lambda.close();
});

describe('local lambda: Invoke', () => {
  it('round-trips a payload through a warm environment with Lambda headers, context and env', async () => {
    // Act
    const first = await invoke(client, 'echo', { id: 1, name: 'ünïcødé' });
    const second = await invoke(client, 'echo', { id: 2 });

    // Assess
    expect(first.output.StatusCode).toBe(200);
    expect(first.output.ExecutedVersion).toBe('$LATEST');
    expect(first.output.FunctionError).toBeUndefined();
    expect(first.output.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.body).toMatchObject({
      event: { id: 1, name: 'ünïcødé' },
      invocations: 1,
      lua: 'return "hello from lua"',
      context: {
        awsRequestId: first.output.$metadata.requestId,
        functionName: 'echo',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
        memoryLimitInMB: '192',
      },
      env: { AWS_LAMBDA_FUNCTION_NAME: 'echo', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '192', AWS_REGION: 'us-east-1', GREETING: 'hola' },
    });
    const remaining = (first.body as { context: { remainingMs: number } }).context.remainingMs;
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(5_000);
    expect(second.body).toMatchObject({ event: { id: 2 }, invocations: 2 });
  });

  it('accepts the function as an ARN, a partial ARN, name:qualifier and the Qualifier parameter', async () => {
    const arn = 'arn:aws:lambda:eu-west-1:123456789012:function:echo:live';
    const byArn = await invoke(client, arn, 1);
    const byPartial = await invoke(client, '123456789012:function:echo', 2);
    const byQualifier = await client.send(new InvokeCommand({ FunctionName: 'echo', Qualifier: '7', Payload: '3' }));

    expect(byArn.body).toMatchObject({ event: 1, context: { invokedFunctionArn: arn } });
    expect(byPartial.body).toMatchObject({ event: 2 });
    expect(JSON.parse(new TextDecoder().decode(byQualifier.Payload))).toMatchObject({
      context: { invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo:7' },
    });
  });

  it('answers null for a handler that returns nothing', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'local-lambda-')), 'out');
    const { output } = await invoke(client, 'record', { file, line: 'sync' });
    expect(new TextDecoder().decode(output.Payload)).toBe('null');
  });

  it('supports callback-style handlers', async () => {
    const ok = await invoke(client, 'callback', {});
    const failed = await invoke(client, 'callback', { fail: true });

    expect(ok.body).toEqual({ via: 'callback' });
    expect(failed.output.FunctionError).toBe('Unhandled');
    expect(failed.body).toMatchObject({ errorType: 'RangeError', errorMessage: 'callback failure' });
  });

  it('answers a thrown error with X-Amz-Function-Error and the Node.js runtime body', async () => {
    const { output, body } = await invoke(client, 'fail', { message: 'puzzle 42 has no solution' });

    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBe('Unhandled');
    const error = body as { errorType: string; errorMessage: string; trace: string[] };
    expect(Object.keys(error)).toEqual(['errorType', 'errorMessage', 'trace']);
    expect(error.errorType).toBe('PuzzleError');
    expect(error.errorMessage).toBe('puzzle 42 has no solution');
    expect(error.trace[0]).toBe('PuzzleError: puzzle 42 has no solution');
    // Source maps: the trace points at the handler's TypeScript source, not the bundle.
    expect(error.trace[1]).toMatch(/^ {4}at fail \(.*fixtures\/handlers\.ts:\d+:\d+\)$/);
  });

  it('answers a response over 6 MB as Function.ResponseSizeTooLarge', async () => {
    const { output, body } = await invoke(client, 'big', { bytes: 6_291_557 });

    expect(output.FunctionError).toBe('Unhandled');
    expect(body).toEqual({
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      errorType: 'Function.ResponseSizeTooLarge',
    });
  });

  it('answers Event with 202 and runs the handler in the background', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'local-lambda-')), 'events');

    const { output } = await invoke(client, 'record', { file, line: 'ran in background' }, 'Event');

    expect(output.StatusCode).toBe(202);
    await expect.poll(() => existsSync(file) && readFileSync(file, 'utf8'), { timeout: 5_000 }).toBe('ran in background\n');
  });

  it('queues Event invocations past the concurrency limit and runs them when a slot frees up', async () => {
    // Prepare: `record` has concurrency 1, and the first call holds it
    const file = join(mkdtempSync(join(tmpdir(), 'local-lambda-')), 'events');
    const first = invoke(client, 'record', { file, line: 'first', ms: 300 });
    await expect.poll(() => lambda.stats().record?.active).toBe(1);

    // Act
    const queued = await invoke(client, 'record', { file, line: 'second' }, 'Event');

    // Assess
    expect(queued.output.StatusCode).toBe(202);
    expect(lambda.stats().record?.queued).toBe(1);
    await first;
    await expect.poll(() => readFileSync(file, 'utf8'), { timeout: 5_000 }).toBe('first\nsecond\n');
  });

  it('answers DryRun with 204 without running the handler', async () => {
    const { output } = await invoke(client, 'echo', {}, 'DryRun');
    expect(output.StatusCode).toBe(204);
  });
});

describe('local lambda: service errors', () => {
  it('throttles past the concurrency limit with 429 TooManyRequestsException, then admits again', async () => {
    // Prepare: `sleep` has concurrency 1
    const first = invoke(client, 'sleep', { ms: 400 });
    await expect.poll(() => lambda.stats().sleep?.active).toBe(1);

    // Act
    const error = await invokeError(invoke(client, 'sleep', { ms: 1 }));

    // Assess
    expect(error.name).toBe('TooManyRequestsException');
    expect(error.$metadata.httpStatusCode).toBe(429);
    expect(error).toMatchObject({ Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' });
    expect((await first).body).toEqual({ slept: 400 });
    expect((await invoke(client, 'sleep', { ms: 1 })).body).toEqual({ slept: 1 });
  });

  it('answers 404 ResourceNotFoundException with the function ARN', async () => {
    const plain = await invokeError(invoke(client, 'NoSuchJob', {}));
    const qualified = await invokeError(invoke(client, 'arn:aws:lambda:eu-west-1:111122223333:function:NoSuchJob:live', {}));

    expect(plain.name).toBe('ResourceNotFoundException');
    expect(plain.$metadata.httpStatusCode).toBe(404);
    expect(plain.message).toBe('Function not found: arn:aws:lambda:us-east-1:000000000000:function:NoSuchJob');
    expect(plain).toMatchObject({ Type: 'User' });
    expect(qualified.message).toBe('Function not found: arn:aws:lambda:eu-west-1:111122223333:function:NoSuchJob:live');
  });

  it('answers 413 RequestEntityTooLargeException one byte past 6 MiB, and accepts exactly 6 MiB', async () => {
    const atLimit = 'x'.repeat(6_291_456 - 2); // plus two quotes: 6,291,456 bytes of JSON

    const accepted = await invoke(client, 'length', atLimit);
    const error = await invokeError(invoke(client, 'length', `${atLimit}x`));

    expect(accepted.body).toEqual({ length: atLimit.length });
    expect(error.name).toBe('RequestEntityTooLargeException');
    expect(error.$metadata.httpStatusCode).toBe(413);
    expect(error.message).toBe('Request must be smaller than 6291456 bytes for the InvokeFunction operation');
    // The socket survives the refusal: the next call on the same client works.
    expect((await invoke(client, 'length', 'ok')).body).toEqual({ length: 2 });
  });

  it('answers a payload that is not JSON with 400 InvalidRequestContentException', async () => {
    for (const type of ['RequestResponse', 'Event'] as const) {
      const error = await invokeError(
        client.send(new InvokeCommand({ FunctionName: 'echo', InvocationType: type, Payload: new TextEncoder().encode('{nope') })),
      );
      expect(error.name).toBe('InvalidRequestContentException');
      expect(error.$metadata.httpStatusCode).toBe(400);
      expect(error.message).toMatch(/^Could not parse request body into json: Could not parse payload into json: /);
    }
  });
});
