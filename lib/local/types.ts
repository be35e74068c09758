/**
 * The types shared by the local Lambda endpoint's modules.
 *
 * Tasks:
 * 1. Declare a local function (`LocalFunction`): what `startLocalLambda` needs to run one handler
 *    the way Lambda would (entry file, export, timeout, memory, reserved concurrency, environment).
 * 2. Declare the outcome of one invocation (`InvokeResult`) as it crosses from an execution
 *    environment back to the HTTP layer.
 */

/** One function served by the local endpoint. */
export interface LocalFunction {
  /** The function name callers invoke (a plain name; callers may also use its ARN or `name:qualifier`). */
  readonly name: string;
  /** Absolute path of the handler's entry file — the same file deploy bundles. */
  readonly entry: string;
  /** @defaultValue 'handler' — the export the runtime calls. */
  readonly handlerExport?: string;
  /** Seconds before the invocation is stopped and answered `Task timed out after N.00 seconds`. */
  readonly timeoutSeconds: number;
  /** MiB; the worker's V8 heap limit, so a leak fails like Lambda's `Runtime.OutOfMemory`. */
  readonly memoryMb: number;
  /** Invocations in flight at once (reserved concurrency); one more answers 429. */
  readonly concurrency: number;
  /** @defaultValue {} — set on top of the Lambda variables (`AWS_LAMBDA_FUNCTION_NAME`, …). */
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * How an invocation ended, as the HTTP layer needs it:
 * - `success`: the handler returned; 200 and the result as JSON;
 * - `function-error`: thrown, timed out, crashed or failed to init; 200 with `X-Amz-Function-Error`;
 * - `invalid-payload`: the request body was not JSON; 400 `InvalidRequestContentException`, and
 *   `body` is the parser's message.
 */
export type ResultKind = 'success' | 'function-error' | 'invalid-payload';

/** The outcome of one invocation: the response body is ready to write. */
export interface InvokeResult {
  readonly kind: ResultKind;
  readonly body: string;
}

/** Per-invocation data the runtime turns into the Lambda `context` object. */
export interface InvokeRequest {
  readonly requestId: string;
  /** The request body as received (UTF-8); the runtime parses it, off the HTTP thread. */
  readonly payload: string;
  /** The ARN the caller used (`context.invokedFunctionArn`). */
  readonly invokedFunctionArn: string;
  /**
   * The invocation's X-Ray trace header, which the runtime puts in `_X_AMZN_TRACE_ID`: the
   * caller's `X-Amzn-Trace-Id`, or a fresh unsampled one (Lambda's pass-through tracing).
   */
  readonly traceHeader: string;
}
