/**
 * Lambda's error answers, byte for byte where we could check them. Pure: no I/O.
 *
 * Tasks:
 * 1. Function errors (200 + `X-Amz-Function-Error: Unhandled`): a thrown error as the Node.js
 *    runtime serialises it, a timeout, a runtime exit, an out-of-memory kill.
 * 2. Service errors (4xx + `x-amzn-ErrorType`): unknown function, throttled, payload too large,
 *    payload not JSON, bad parameter. The SDK picks the exception class from `x-amzn-ErrorType`,
 *    so that header is the contract; the bodies carry the fields of the SDK's model.
 *
 * Sources (checked 2025): the Node.js runtime interface client's `toRapidResponse` (errorType =
 * error.name, trace = error.stack split on newlines); `aws lambda invoke` output for a timeout
 * (`{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: … Error: Task timed out after 3.00
 * seconds"}` — before late 2023 Lambda sent only `errorMessage: "<date> <id> Task timed out after …"`);
 * `Runtime.ExitError` / `Runtime.OutOfMemory` payloads ("RequestId: … Error: Runtime exited with
 * error: exit status 1" / "signal: killed"); the 404 body `{"Message":"Function not found: arn:…",
 * "Type":"User"}`; the 413 message "Request must be smaller than 6291456 bytes for the
 * InvokeFunction operation" (sent as `RequestEntityTooLargeException`, not the SDK model's
 * `RequestTooLargeException`).
 */

/** The largest request body Lambda accepts for a synchronous invoke: 6 MiB. */
export const MAX_REQUEST_BYTES = 6_291_456;

/** A function error's body, ready to write. `X-Amz-Function-Error` is always `Unhandled` for Node.js. */
export type FunctionErrorBody = string;

/**
 * The body the Node.js runtime writes for an error a handler threw (or an init error).
 *
 * This function runs inside the worker runtime too (it is passed there as source text), so it
 * must stay self-contained: no imports, no references outside its own body.
 *
 * @example rapidErrorBody(new TypeError('x')) // '{"errorType":"TypeError","errorMessage":"x","trace":["TypeError: x","    at …"]}'
 */
export function rapidErrorBody(error: unknown): FunctionErrorBody {
  try {
    if (error instanceof Error || (typeof error === 'object' && error !== null && 'stack' in error)) {
      const e = error as { name?: unknown; message?: unknown; stack?: unknown };
      return JSON.stringify({
        errorType: e.name,
        errorMessage: e.message,
        trace: typeof e.stack === 'string' ? e.stack.split('\n') : [],
      });
    }
    return JSON.stringify({ errorType: typeof error, errorMessage: String(error), trace: [] });
  } catch {
    return JSON.stringify({
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    });
  }
}

/** The body Lambda answers when the function's timeout expires (the environment is then discarded). */
export function timeoutBody(requestId: string, timeoutSeconds: number): FunctionErrorBody {
  return JSON.stringify({
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
  });
}

/** The body Lambda answers when the runtime process exits during an invocation (`process.exit(1)`). */
export function exitBody(requestId: string, exitCode: number): FunctionErrorBody {
  return JSON.stringify({
    errorType: 'Runtime.ExitError',
    errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: exit status ${exitCode}`,
  });
}

/** The body Lambda answers when the function exceeds its memory size and the runtime is killed. */
export function outOfMemoryBody(requestId: string): FunctionErrorBody {
  return JSON.stringify({
    errorType: 'Runtime.OutOfMemory',
    errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`,
  });
}

/** A Lambda service error: the HTTP status, the `x-amzn-ErrorType` header and the JSON body. */
export interface ServiceError {
  readonly status: number;
  readonly errorType: string;
  readonly body: string;
}

function serviceError(status: number, errorType: string, body: Record<string, string>): ServiceError {
  return { status, errorType, body: JSON.stringify(body) };
}

/** 404: no function by that name (`arn` is the full ARN, with the qualifier when one was given). */
export function functionNotFound(arn: string): ServiceError {
  return serviceError(404, 'ResourceNotFoundException', { Message: `Function not found: ${arn}`, Type: 'User' });
}

/** 429: the function's reserved concurrency is in use. */
export function throttled(): ServiceError {
  return serviceError(429, 'TooManyRequestsException', {
    Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
    Type: 'User',
    message: 'Rate Exceeded.',
  });
}

/** 413: the request body is larger than {@link MAX_REQUEST_BYTES}. */
export function requestTooLarge(): ServiceError {
  return serviceError(413, 'RequestEntityTooLargeException', {
    Type: 'User',
    message: `Request must be smaller than ${MAX_REQUEST_BYTES} bytes for the InvokeFunction operation`,
  });
}

/** 400: the payload is not JSON. */
export function invalidRequestContent(parserMessage: string): ServiceError {
  return serviceError(400, 'InvalidRequestContentException', {
    Type: 'User',
    message: `Could not parse request body into json: Could not parse payload into json: ${parserMessage}`,
  });
}

/** 400: a parameter Lambda would reject (an unknown invocation type, say). */
export function invalidParameter(message: string): ServiceError {
  return serviceError(400, 'InvalidParameterValueException', { Type: 'User', message });
}

/** 404: a route this endpoint does not implement (only Invoke is). */
export function unknownOperation(method: string, path: string): ServiceError {
  return serviceError(404, 'UnknownOperationException', {
    Type: 'User',
    message: `The local Lambda endpoint implements only Invoke; got ${method} ${path}`,
  });
}
