/**
 * Helpers for the local endpoint's tests: functions from the fixture handlers, the real SDK client
 * pointed at the endpoint, and a way to prove a failure stays inside its own function.
 */
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient, type InvocationType, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { expect } from 'vitest';
import type { LocalFunction } from '../../lib/local/endpoint.js';

export const fixture = (file: string): string => fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));

/** A function served from one export of `fixtures/handlers.ts`, named after the export. */
export function makeFunction(handlerExport: string, overrides: Partial<LocalFunction> = {}): LocalFunction {
  return {
    name: handlerExport,
    entry: fixture('handlers.ts'),
    handlerExport,
    timeoutSeconds: 5,
    memoryMb: 128,
    concurrency: 4,
    ...overrides,
  };
}

/** The real SDK, retries off (the poller's setting): a 429 must reach the caller, not be retried. */
export function makeClient(url: string): LambdaClient {
  return new LambdaClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
}

export interface Invoked {
  readonly output: InvokeCommandOutput;
  readonly body: unknown;
}

export async function invoke(
  client: LambdaClient,
  name: string,
  payload: unknown,
  type: InvocationType = 'RequestResponse',
): Promise<Invoked> {
  const output = await client.send(
    new InvokeCommand({ FunctionName: name, InvocationType: type, Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
  );
  const text = output.Payload ? new TextDecoder().decode(output.Payload) : '';
  return { output, body: text === '' ? undefined : JSON.parse(text) };
}

/** The SDK error a call rejects with (fails the test if it resolves). */
export async function invokeError(promise: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number } }> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the invocation to fail, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as Error & { $metadata: { httpStatusCode?: number } };
}

/**
 * Runs `failing` while invoking `echo` on the same endpoint in a loop; asserts every echo succeeded
 * and that at least one completed while `failing` was still in flight.
 */
export async function whileOtherFunctionAnswers<T>(client: LambdaClient, failing: Promise<T>): Promise<T> {
  let done = false;
  let answeredDuring = 0;
  const settled = failing.finally(() => {
    done = true;
  });
  const loop = (async () => {
    for (let i = 0; !done; i++) {
      const { output, body } = await invoke(client, 'echo', { i });
      expect(output.FunctionError).toBeUndefined();
      expect((body as { event: unknown }).event).toEqual({ i });
      if (!done) answeredDuring++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const [result] = await Promise.all([settled, loop]);
  expect(answeredDuring).toBeGreaterThan(0);
  return result;
}
