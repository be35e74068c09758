/**
 * One execution environment: a worker thread running one function's handler — one invocation at a
 * time, like a Lambda sandbox, unless the pool gives it more (`invocationsPerEnvironment`).
 *
 * Tasks:
 * 1. Start the worker with the function's environment variables (Lambda's, then the declared
 *    ones) and its memory size as the V8 heap limit (`resourceLimits`).
 * 2. Invoke: post the request (batched per event-loop turn), enforce the timeout, resolve with the
 *    runtime's answer.
 * 3. Turn the ways an environment dies into Lambda's answers for the invocation in flight: a
 *    timeout (`Sandbox.Timedout`), a heap over the limit (`Runtime.OutOfMemory`), `process.exit`
 *    (`Runtime.ExitError`); then discard the environment and tell the pool (`onGone`). Other
 *    invocations sharing the environment end with it, as `Runtime.ExitError`.
 *
 * Why worker threads and not child processes: a warm worker costs one `postMessage` each way per
 * invocation (~10 µs), where a child process costs a pipe write, a syscall and a JSON frame each
 * way, and ~30 MB of RSS per environment. A worker isolates what matters here — its own V8 heap
 * with its own limit, its own globals and module cache, its own `process.env`, and `process.exit`
 * ends only the worker — and `terminate()` stops even a busy loop. What it does not isolate:
 * native addons that crash the process, and `process.chdir`/`process.umask` (not allowed in workers).
 */
import { Worker } from 'node:worker_threads';
import { exitBody, outOfMemoryBody, timeoutBody } from './errors.js';
import type { InvokeMessage, ResultBatch, RuntimeData } from './runtime.js';
import type { InvokeRequest, InvokeResult, LocalFunction, ResultKind } from './types.js';

/** Host variables passed through to handlers (Lambda has no host; a dev machine needs PATH and AWS credentials). */
const PASSED_THROUGH = ['PATH', 'HOME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'];

/**
 * The environment variables Lambda sets for a Node.js function, then the function's own.
 *
 * @example lambdaEnvironment(fn, 'us-east-1', 'index').AWS_LAMBDA_FUNCTION_NAME // fn.name
 */
export function lambdaEnvironment(fn: LocalFunction, region: string, moduleName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED_THROUGH) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return Object.assign(env, {
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(fn.timeoutSeconds),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${process.pid}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    LANG: 'en_US.UTF-8',
    _HANDLER: `${moduleName}.${fn.handlerExport ?? 'handler'}`,
    ...fn.environment,
  });
}

interface Pending {
  readonly resolve: (r: InvokeResult) => void;
  readonly timer: NodeJS.Timeout;
}

export interface EnvironmentOptions {
  readonly fn: LocalFunction;
  readonly runtimeFile: string;
  readonly data: RuntimeData;
  readonly env: Record<string, string>;
  /** Called once when the environment can take no more invocations. */
  readonly onGone: (env: ExecutionEnvironment) => void;
}

export class ExecutionEnvironment {
  alive = true;
  private readonly pending = new Map<string, Pending>();
  private outbox: InvokeMessage[] = [];
  private lastError: unknown = null;
  private readonly worker: Worker;
  private readonly timeoutMs: number;

  constructor(private readonly opts: EnvironmentOptions) {
    this.timeoutMs = opts.fn.timeoutSeconds * 1000;
    this.worker = new Worker(opts.runtimeFile, {
      name: `lambda:${opts.fn.name}`,
      workerData: opts.data,
      env: opts.env,
      resourceLimits: { maxOldGenerationSizeMb: opts.fn.memoryMb },
      // Not the parent's flags: a loader such as tsx would load into every environment.
      execArgv: [],
    });
    this.worker.on('message', (batch: ResultBatch) => this.onResults(batch));
    this.worker.on('error', (e) => {
      this.lastError = e;
    });
    this.worker.on('exit', (code) => this.onExit(code));
  }

  /** Invocations in flight in this environment. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Runs one invocation; resolves with the answer, whatever happens to the worker. */
  invoke(req: InvokeRequest): Promise<InvokeResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onTimeout(req.requestId), this.timeoutMs);
      this.pending.set(req.requestId, { resolve, timer });
      if (this.outbox.length === 0) setImmediate(this.flush);
      this.outbox.push([req.requestId, req.payload, req.invokedFunctionArn, Date.now() + this.timeoutMs, req.traceHeader]);
    });
  }

  /** Stops the worker; invocations in flight are answered as a runtime exit. */
  async discard(): Promise<void> {
    this.gone();
    await this.worker.terminate();
  }

  /** Posts this turn's invocations as one message: one wake-up of the worker per turn. */
  private readonly flush = (): void => {
    const batch = this.outbox;
    this.outbox = [];
    if (this.alive) this.worker.postMessage(batch);
  };

  private settle(requestId: string, result: InvokeResult): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private onResults(batch: ResultBatch): void {
    let discard = false;
    for (let i = 0; i + 3 < batch.length; i += 4) {
      this.settle(batch[i] as string, { kind: batch[i + 1] as ResultKind, body: batch[i + 2] as string });
      discard ||= batch[i + 3] === true;
    }
    if (discard) void this.discard();
  }

  private onTimeout(requestId: string): void {
    this.settle(requestId, { kind: 'function-error', body: timeoutBody(requestId, this.opts.fn.timeoutSeconds) });
    void this.discard();
  }

  private onExit(code: number): void {
    this.gone();
    const oom = (this.lastError as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    for (const requestId of [...this.pending.keys()]) {
      this.settle(requestId, { kind: 'function-error', body: oom ? outOfMemoryBody(requestId) : exitBody(requestId, code) });
    }
  }

  private gone(): void {
    if (!this.alive) return;
    this.alive = false;
    this.opts.onGone(this);
  }
}
