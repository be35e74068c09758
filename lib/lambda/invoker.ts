/**
 * The Lambda port: invoke a function with an event and classify the answer.
 *
 * Tasks:
 * 1. Define the narrow `Invoker` port the poller depends on, and the outcomes it must tell apart:
 *    a response, a function error, throttling (429), too large (413), a configuration error
 *    (404/403/…), and "unknown" (network error or 5xx: the function may have run).
 * 2. `SdkInvoker`: `@aws-sdk/client-lambda`'s `InvokeCommand`, configured for this load — keep-alive
 *    sockets at least the in-flight cap (the default 50 silently queues the rest), SDK retries off
 *    (the poller alone decides retries; an SDK retry after a reset can run a job twice), a request
 *    timeout above the longest function timeout.
 * 3. `DirectInvoker`: the same request, with the SDK's own credentials (provider chain), region and
 *    endpoint resolution, signed by a SigV4 signer proven identical to the SDK's (lib/lambda/sigv4.ts),
 *    sent on an undici keep-alive pool — without the SDK's middleware stack, which dominates the
 *    client's CPU per call. The default for the poller.
 * 4. Both carry a job's trace to AWS's tracing: the `X-Amzn-Trace-Id` header on the Invoke (sent
 *    unsigned, as the SDK's signer leaves it), which Lambda continues and hands the function as
 *    `_X_AMZN_TRACE_ID`.
 */
import http from 'node:http';
import https from 'node:https';
import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Pool } from 'undici';
import type { LambdaErrorBody } from '../protocol/event.js';
import { signPost } from './sigv4.js';

export type InvokeResult =
  | { readonly kind: 'response'; readonly body: unknown }
  | { readonly kind: 'function-error'; readonly body: LambdaErrorBody }
  | { readonly kind: 'throttled'; readonly message: string }
  | { readonly kind: 'too-large'; readonly message: string }
  | { readonly kind: 'config'; readonly errorType: string; readonly message: string }
  | { readonly kind: 'unknown'; readonly errorType: string; readonly message: string };

/** The port the poller invokes through (unit tests may pass a small fake). */
export interface Invoker {
  /** `trace`: an X-Ray trace header (`Root=1-…;Parent=…;Sampled=1`) for the Invoke's `X-Amzn-Trace-Id`. */
  invoke(fn: string, event: string, timeoutSeconds: number, trace?: string): Promise<InvokeResult>;
  close(): void;
}

export interface InvokerOptions {
  /** Sockets kept alive: at least the poller's in-flight cap. */
  readonly maxSockets: number;
  /** The longest declared function timeout, in seconds; requests wait this plus a margin. */
  readonly maxTimeoutSeconds: number;
  /** A local endpoint (dev, tests), e.g. http://127.0.0.1:9001. @defaultValue AWS */
  readonly endpoint?: string;
  /** @defaultValue the SDK's own resolution (us-east-1 for a local endpoint) */
  readonly region?: string;
  /** Sign with placeholder keys (a local endpoint and no AWS credentials in the environment). @defaultValue false */
  readonly localCredentials?: boolean;
}

/** The header Lambda reads a caller's trace from (never signed: SigV4 leaves it out). */
export const TRACE_HEADER = 'x-amzn-trace-id';

/** Margin above the function's timeout before the poller gives up on an Invoke. */
const TIMEOUT_MARGIN_MS = 15_000;

/** Lambda's answers that mean the deploy is wrong, not the job: retried, logged loudly. */
const CONFIG_ERRORS = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'InvalidParameterValueException',
  'ResourceConflictException',
  'ResourceNotReadyException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
  'InvalidRuntimeException',
  'InvalidSubnetIDException',
  'InvalidSecurityGroupIDException',
  'ENILimitReachedException',
  'SubnetIPAddressLimitReachedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
]);

/** Classifies a failed HTTP answer from the Invoke API by status and error type. */
export function classifyError(status: number | undefined, errorType: string, message: string): InvokeResult {
  if (status === 429 || errorType === 'TooManyRequestsException') return { kind: 'throttled', message };
  if (status === 413 || errorType === 'RequestTooLargeException' || errorType === 'RequestEntityTooLargeException') {
    return { kind: 'too-large', message };
  }
  if (CONFIG_ERRORS.has(errorType) || (status !== undefined && status >= 400 && status < 500)) return { kind: 'config', errorType, message };
  return { kind: 'unknown', errorType, message };
}

function lambdaClient(opts: InvokerOptions, requestHandler?: NodeHttpHandler): LambdaClient {
  const config: LambdaClientConfig = {
    maxAttempts: 1,
    // Undefined: the SDK resolves the region itself (profile, instance metadata).
    region: opts.region ?? (opts.endpoint ? 'us-east-1' : undefined),
  };
  if (requestHandler) config.requestHandler = requestHandler;
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    // A local endpoint needs no real credentials; the SDK still signs.
    if (opts.localCredentials) config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  return new LambdaClient(config);
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An SDK build-step middleware that sets one request header. */
function withHeader(name: string, value: string) {
  return <I, O>(next: (args: I) => Promise<O>) =>
    (args: I): Promise<O> => {
      const request = (args as { request?: { headers?: Record<string, string> } }).request;
      if (request?.headers) request.headers[name] = value;
      return next(args);
    };
}

/** `InvokeCommand` through the full SDK. */
export class SdkInvoker implements Invoker {
  readonly client: LambdaClient;
  private readonly decoder = new TextDecoder();

  constructor(opts: InvokerOptions) {
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets };
    this.client = lambdaClient(
      opts,
      new NodeHttpHandler({
        httpAgent: new http.Agent(agentOpts),
        httpsAgent: new https.Agent(agentOpts),
        requestTimeout: opts.maxTimeoutSeconds * 1000 + TIMEOUT_MARGIN_MS,
        connectionTimeout: 5000,
      }),
    );
  }

  async invoke(fn: string, event: string, _timeoutSeconds: number, trace?: string): Promise<InvokeResult> {
    try {
      const command = new InvokeCommand({ FunctionName: fn, InvocationType: 'RequestResponse', Payload: Buffer.from(event) });
      if (trace) command.middlewareStack.add(withHeader(TRACE_HEADER, trace), { step: 'build', name: 'sidekiqLambdaTraceHeader' });
      const out = await this.client.send(command);
      const body = parseBody(out.Payload ? this.decoder.decode(out.Payload) : '');
      if (out.FunctionError) return { kind: 'function-error', body: (body ?? {}) as LambdaErrorBody };
      return { kind: 'response', body };
    } catch (e) {
      const err = e as Error & { $metadata?: { httpStatusCode?: number } };
      return classifyError(err.$metadata?.httpStatusCode, err.name, err.message);
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/** The same Invoke, signed by the SDK's signer, sent on a keep-alive undici pool. */
export class DirectInvoker implements Invoker {
  readonly client: LambdaClient;
  private target?: Promise<{ url: URL; region: string; pool: Pool }>;
  private readonly requestTimeoutMs: number;
  private readonly maxSockets: number;

  constructor(opts: InvokerOptions) {
    this.client = lambdaClient(opts);
    this.requestTimeoutMs = opts.maxTimeoutSeconds * 1000 + TIMEOUT_MARGIN_MS;
    this.maxSockets = opts.maxSockets;
  }

  /** Region, endpoint and signer, from the SDK's own configuration, once. */
  private resolve(): Promise<{ url: URL; region: string; pool: Pool }> {
    this.target ??= (async () => {
      const c = this.client.config;
      const region = await c.region();
      let url: URL;
      if (c.isCustomEndpoint && c.endpoint) {
        const ep = await c.endpoint();
        url = new URL(`${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}${ep.path ?? ''}`);
      } else {
        url = new URL(c.endpointProvider({ Region: region, UseFIPS: await c.useFipsEndpoint(), UseDualStack: await c.useDualstackEndpoint() }).url.href);
      }
      const pool = new Pool(url.origin, {
        connections: this.maxSockets,
        pipelining: 1,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
        keepAliveTimeout: 60_000,
      });
      return { url, region, pool };
    })();
    return this.target;
  }

  async invoke(fn: string, event: string, _timeoutSeconds: number, trace?: string): Promise<InvokeResult> {
    const { url, region, pool } = await this.resolve();
    const path = `${url.pathname.replace(/\/$/, '')}/2015-03-31/functions/${encodeURIComponent(fn)}/invocations`;
    const body = Buffer.from(event);
    let headers: Record<string, string>;
    try {
      // The SDK's credential provider chain (memoised and refreshed by the SDK itself).
      const credentials = await this.client.config.credentials();
      headers = signPost({ host: url.host, path, body, region, service: 'lambda', credentials, amzHeaders: { 'x-amz-invocation-type': 'RequestResponse' }, contentType: 'application/json' });
    } catch (e) {
      return { kind: 'config', errorType: 'CredentialsError', message: (e as Error).message };
    }
    if (trace) headers[TRACE_HEADER] = trace;
    let res;
    try {
      res = await pool.request({ method: 'POST', path, headers, body });
    } catch (e) {
      const err = e as Error & { code?: string };
      return { kind: 'unknown', errorType: err.code ?? (err.name === 'Error' ? 'NetworkError' : err.name), message: err.message };
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (e) {
      return { kind: 'unknown', errorType: 'NetworkError', message: (e as Error).message };
    }
    const status = res.statusCode;
    if (status === 200) {
      const parsed = parseBody(text);
      if (res.headers['x-amz-function-error']) return { kind: 'function-error', body: (parsed ?? {}) as LambdaErrorBody };
      return { kind: 'response', body: parsed };
    }
    const parsed = parseBody(text) as { message?: string; Message?: string; __type?: string } | null;
    const typeHeader = String(res.headers['x-amzn-errortype'] ?? parsed?.__type ?? `Http${status}`).split(':')[0]!;
    const message = (parsed && (parsed.message ?? parsed.Message)) || `HTTP ${status}`;
    return classifyError(status, typeHeader, String(message));
  }

  close(): void {
    void this.target?.then((t) => t.pool.close()).catch(() => undefined);
    this.client.destroy();
  }
}
