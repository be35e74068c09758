/**
 * One execution environment: a worker thread running one function's handler, one invocation at a
 * time, like a Lambda sandbox.
 *
 * Tasks:
 * 1. Start the worker with the function's environment variables (Lambda's, then the declared
 *    ones) and its memory size as the V8 heap limit (`resourceLimits`).
 * 2. Invoke: post the request, enforce the timeout, resolve with the runtime's answer.
 * 3. Turn the ways an environment dies into Lambda's answers for the invocation in flight: a
 *    timeout (`Sandbox.Timedout`), a heap over the limit (`Runtime.OutOfMemory`), `process.exit`
 *    (`Runtime.ExitError`); then discard the environment and tell the pool (`onGone`).
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
import type { InvokeMessage, ResultMessage, RuntimeData } from './runtime.js';
import type { InvokeRequest, InvokeResult, LocalFunction } from './types.js';

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
  readonly requestId: string;
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
  private pending: Pending | null = null;
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
    });
    this.worker.on('message', (m: ResultMessage) => this.onMessage(m));
    this.worker.on('error', (e) => {
      this.lastError = e;
    });
    this.worker.on('exit', (code) => this.onExit(code));
  }

  /** Runs one invocation; resolves with the answer, whatever happens to the worker. */
  invoke(req: InvokeRequest): Promise<InvokeResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onTimeout(), this.timeoutMs);
      this.pending = { requestId: req.requestId, resolve, timer };
      const message: InvokeMessage = [req.requestId, req.payload, req.invokedFunctionArn, Date.now() + this.timeoutMs];
      this.worker.postMessage(message);
    });
  }

  /** Stops the worker; an invocation in flight is answered as a runtime exit. */
  async discard(): Promise<void> {
    this.gone();
    await this.worker.terminate();
  }

  private settle(result: InvokeResult): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private onMessage([kind, body, discard]: ResultMessage): void {
    this.settle({ kind, body });
    if (discard) void this.discard();
  }

  private onTimeout(): void {
    const p = this.pending;
    if (!p) return;
    this.settle({ kind: 'function-error', body: timeoutBody(p.requestId, this.opts.fn.timeoutSeconds) });
    void this.discard();
  }

  private onExit(code: number): void {
    const p = this.pending;
    if (p) {
      const oom = (this.lastError as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.settle({ kind: 'function-error', body: oom ? outOfMemoryBody(p.requestId) : exitBody(p.requestId, code) });
    }
    this.gone();
  }

  private gone(): void {
    if (!this.alive) return;
    this.alive = false;
    this.opts.onGone(this);
  }
}
