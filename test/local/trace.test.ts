// The invocation's trace, as Lambda's Node.js runtime hands it over: the caller's X-Amzn-Trace-Id in
// `_X_AMZN_TRACE_ID`, set for each invocation (a fresh unsampled trace when the caller sent none);
// left alone when one environment runs several invocations at once (AWS_LAMBDA_MAX_CONCURRENCY).
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLambda, type LocalLambda } from '../../lib/local/endpoint.js';
import { makeClient, makeFunction } from './support.js';

const HEADER = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
const FRESH = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/;

type Seen = { traceHeader: string | null; maxConcurrency: string | null };

/** Invokes `name` with the SDK, sending `header` as X-Amzn-Trace-Id when given. */
async function invokeTraced(client: LambdaClient, name: string, header?: string): Promise<Seen> {
  const command = new InvokeCommand({ FunctionName: name, Payload: new TextEncoder().encode('{}') });
  if (header) {
    command.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['X-Amzn-Trace-Id'] = header;
        return next(args);
      },
      { step: 'build' },
    );
  }
  const out = await client.send(command);
  return JSON.parse(new TextDecoder().decode(out.Payload)) as Seen;
}

describe('local lambda: trace header', () => {
  let lambda: LocalLambda;
  let client: LambdaClient;
  beforeAll(async () => {
    lambda = await startLocalLambda({ functions: [makeFunction('trace', { concurrency: 1 })] });
    client = makeClient(lambda.url);
  });
  afterAll(async () => {
    client.destroy();
    await lambda.close();
  });

  it("puts the caller's X-Amzn-Trace-Id in _X_AMZN_TRACE_ID, as it came", async () => {
    expect(await invokeTraced(client, 'trace', HEADER)).toEqual({ traceHeader: HEADER, maxConcurrency: null });
  });

  it('starts a fresh unsampled trace for an invocation without one, and never leaks the previous one (same warm environment)', async () => {
    // Act
    const traced = await invokeTraced(client, 'trace', HEADER);
    const first = await invokeTraced(client, 'trace');
    const second = await invokeTraced(client, 'trace');
    // Assess
    expect(traced.traceHeader).toBe(HEADER);
    expect(first.traceHeader).toMatch(FRESH);
    expect(second.traceHeader).toMatch(FRESH);
    expect(second.traceHeader).not.toBe(first.traceHeader);
    expect(lambda.stats().trace!.environments).toBe(1);
  });
});

describe('local lambda: trace header with several invocations per environment', () => {
  let lambda: LocalLambda;
  let client: LambdaClient;
  beforeAll(async () => {
    lambda = await startLocalLambda({ functions: [makeFunction('trace')], invocationsPerEnvironment: 2 });
    client = makeClient(lambda.url);
  });
  afterAll(async () => {
    client.destroy();
    await lambda.close();
  });

  it('sets AWS_LAMBDA_MAX_CONCURRENCY and leaves _X_AMZN_TRACE_ID alone, as Lambda\'s runtime does there', async () => {
    expect(await invokeTraced(client, 'trace', HEADER)).toEqual({ traceHeader: null, maxConcurrency: '2' });
  });
});
