/**
 * The runtime inside one execution environment (a worker thread), playing the part of Lambda's
 * Node.js runtime interface client.
 *
 * Tasks:
 * 1. Init: import the handler bundle once and find the handler export; an import that throws is
 *    answered as Lambda's runtime answers it (the error's own name; `Runtime.UserCodeSyntaxError`,
 *    `Runtime.ImportModuleError`, `Runtime.HandlerNotFound`), and the environment is discarded.
 * 2. Invoke (one at a time, unless the endpoint allows more per environment): parse the payload
 *    (off the HTTP thread), build the `context` object, set `_X_AMZN_TRACE_ID` to the invocation's
 *    trace header as Lambda's Node.js runtime does for each invocation (not where an environment
 *    runs several at once, `AWS_LAMBDA_MAX_CONCURRENCY` set, as that runtime), call the handler
 *    (async or callback style), answer the JSON result or the error body.
 * 3. An uncaught exception or unhandled rejection fails the invocations in flight with the error,
 *    and asks for the environment to be discarded, as Lambda's runtime exits on them.
 *
 * Protocol (flat arrays, batched per event-loop turn in both directions, so that a burst of
 * invocations costs one `postMessage` — one thread wake-up — per turn, not one per invocation):
 *   main → worker: InvokeMessage[]  ([requestId, payload, invokedFunctionArn, deadlineEpochMs, traceHeader])
 *   worker → main: ResultBatch      (requestId, kind, body, discard, requestId, kind, …)
 * `discard` asks the main thread to stop this environment (init error, uncaught exception).
 *
 * `workerMain` is shipped to the worker as source text (`runtimeSource()`), so the worker needs no
 * file next to the compiled library (this code runs from `lib/` under vitest/tsx and from `dist/`
 * when bundled). The price: `workerMain` must be self-contained — only `require` and globals, no
 * reference to anything outside its body (bar esbuild's `__name`, defined below), and no
 * `import(…)` syntax (vitest rewrites it). The tests run it under vitest; `npm run dev` under tsx.
 */
import { rapidErrorBody } from './errors.js';
import type { ResultKind } from './types.js';

/** What the pool tells a new environment about its function. */
export interface RuntimeData {
  /** Absolute path of the handler bundle. */
  readonly bundle: string;
  readonly handlerExport: string;
  /** The module part of Lambda's handler string (`index` in `index.handler`), for messages. */
  readonly moduleName: string;
  readonly functionName: string;
  readonly memoryMb: number;
}

/** The main → worker message. */
export type InvokeMessage = readonly [requestId: string, payload: string, invokedFunctionArn: string, deadline: number, traceHeader: string];
/** The worker → main message: 4 entries per finished invocation. */
export type ResultBatch = ReadonlyArray<string | boolean>;

/** Lambda's largest response: 6 MiB + 100 bytes. */
const MAX_RESPONSE_BYTES = 6_291_556;

export function workerMain(serializeError: (error: unknown) => string, maxResponseBytes: number): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { pathToFileURL } = require('node:url') as typeof import('node:url');
  const data = workerData as RuntimeData;
  const port = parentPort as import('node:worker_threads').MessagePort;
  const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;
  process.setSourceMapsEnabled(true);

  type Handler = (event: unknown, context: object, callback: (err?: unknown, res?: unknown) => void) => unknown;
  const runtimeError = (name: string, message: string): Error => Object.assign(new Error(message), { name });
  let outbox: Array<string | boolean> = [];
  const flush = (): void => {
    const batch = outbox;
    outbox = [];
    port.postMessage(batch);
  };
  const inFlight = new Set<string>();
  const post = (requestId: string, kind: ResultKind, body: string, discard: boolean): void => {
    if (outbox.length === 0) setImmediate(flush);
    outbox.push(requestId, kind, body, discard);
  };

  let initError: string | null = null;
  const init = dynamicImport(pathToFileURL(data.bundle).href).then((mod) => {
    const fn = mod[data.handlerExport];
    if (typeof fn === 'function') return fn as Handler;
    throw runtimeError('Runtime.HandlerNotFound', `${data.moduleName}.${data.handlerExport} is undefined or not exported`);
  });
  init.catch((e: unknown) => {
    const code = (e as { code?: unknown } | null)?.code;
    const wrapped =
      e instanceof SyntaxError
        ? runtimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`)
        : code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? runtimeError('Runtime.ImportModuleError', `${String(e)}`)
          : e;
    initError = serializeError(wrapped);
  });

  class Context {
    callbackWaitsForEmptyEventLoop = true;
    functionName = data.functionName;
    functionVersion = '$LATEST';
    memoryLimitInMB = String(data.memoryMb);
    logGroupName = `/aws/lambda/${data.functionName}`;
    logStreamName = `local/[$LATEST]${process.pid}`;
    constructor(
      readonly awsRequestId: string,
      readonly invokedFunctionArn: string,
      private readonly deadline: number,
    ) {}
    getRemainingTimeInMillis(): number {
      return Math.max(0, this.deadline - Date.now());
    }
  }

  const call = (handler: Handler, event: unknown, context: Context): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const callback = (err?: unknown, res?: unknown): void => (err != null ? reject(err) : resolve(res));
      Object.assign(context, { done: callback, succeed: resolve, fail: reject });
      const r = handler(event, context, callback);
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(resolve, reject);
      } else if (handler.length < 3) {
        resolve(r);
      }
    });

  const respond = (requestId: string, result: unknown): void => {
    const body = JSON.stringify(result) ?? 'null';
    if (body.length * 3 > maxResponseBytes && Buffer.byteLength(body) > maxResponseBytes) {
      const message = `Response payload size exceeded maximum allowed payload size (${maxResponseBytes} bytes).`;
      post(requestId, 'function-error', JSON.stringify({ errorMessage: message, errorType: 'Function.ResponseSizeTooLarge' }), false);
    } else {
      post(requestId, 'success', body, false);
    }
  };

  // Lambda's runtime exits on these; here every invocation in flight fails with the error, and
  // the main thread discards the environment.
  const crash = (error: unknown): void => {
    const body = serializeError(error);
    for (const requestId of inFlight) post(requestId, 'function-error', body, true);
    if (inFlight.size === 0) post('', 'function-error', body, true);
    inFlight.clear();
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', (reason) => {
    const error = runtimeError('Runtime.UnhandledPromiseRejection', String(reason));
    if (reason instanceof Error && reason.stack) error.stack = reason.stack;
    crash(error);
  });

  // Lambda's runtime moves the trace header into the environment per invocation, unless it runs
  // several at once (aws-lambda-nodejs-runtime-interface-client, `moveXRayHeaderToEnv`).
  const perInvocationTrace = process.env.AWS_LAMBDA_MAX_CONCURRENCY === undefined;
  const start = ([requestId, payload, arn, deadline, trace]: InvokeMessage): void => {
    let event: unknown;
    try {
      event = payload === '' ? {} : JSON.parse(payload);
    } catch (e) {
      post(requestId, 'invalid-payload', (e as Error).message, false);
      return;
    }
    inFlight.add(requestId);
    init.then(
      (handler) => {
        if (perInvocationTrace) {
          if (trace) process.env._X_AMZN_TRACE_ID = trace;
          else delete process.env._X_AMZN_TRACE_ID;
        }
        return call(handler, event, new Context(requestId, arn, deadline));
      },
      () => Promise.reject(initError),
    ).then(
      (result) => {
        if (!inFlight.delete(requestId)) return;
        try {
          respond(requestId, result);
        } catch (e) {
          post(requestId, 'function-error', serializeError(e), false);
        }
      },
      (error: unknown) => {
        if (!inFlight.delete(requestId)) return;
        if (initError !== null && error === initError) post(requestId, 'function-error', initError, true);
        else post(requestId, 'function-error', serializeError(error), false);
      },
    );
  };
  port.on('message', (batch: InvokeMessage[]) => {
    for (const m of batch) start(m);
  });
}

/**
 * The worker's source: `workerMain` applied to the error serialiser, as one CommonJS script.
 *
 * @example writeFileSync(join(dir, 'runtime.cjs'), runtimeSource())
 */
export function runtimeSource(): string {
  return `'use strict';\n${KEEP_NAMES_HELPER}\n(${workerMain.toString()})(${rapidErrorBody.toString()}, ${MAX_RESPONSE_BYTES});\n`;
}

/**
 * esbuild's `keepNames` (tsx turns it on) wraps functions in `__name(fn, "name")` calls that refer
 * to a module-level helper; the worker script defines the same helper so the source text still runs.
 */
const KEEP_NAMES_HELPER =
  'var __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true });\n' +
  // Bundled as ESM (dist/, the container, benches), esbuild turns `require(…)` in workerMain into
  // its `__require` shim, which the worker script must then provide.
  'var __require = require;';
