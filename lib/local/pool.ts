/**
 * The execution environments of one function, and its reserved concurrency.
 *
 * Tasks:
 * 1. Admit a synchronous invocation while fewer than `concurrency` are in flight; otherwise refuse
 *    it (the HTTP layer answers 429), as Lambda does for reserved concurrency.
 * 2. Reuse warm environments, most recently used first; start a new one (a cold start) only when
 *    none has room. Room is one invocation, as in Lambda, unless `invocationsPerEnvironment` says
 *    more. An environment that died (timeout, crash, init error) is dropped, never reused.
 * 3. Queue `Event` invocations while the function is at its limit and run them as slots free up —
 *    Lambda's asynchronous queue, without its retries — and report each outcome.
 * 4. On close, stop every worker.
 */
import { ExecutionEnvironment } from './environment.js';
import type { RuntimeData } from './runtime.js';
import type { InvokeRequest, InvokeResult, LocalFunction } from './types.js';

export interface PoolOptions {
  readonly fn: LocalFunction;
  readonly runtimeFile: string;
  readonly data: RuntimeData;
  readonly env: Record<string, string>;
  /** @defaultValue 1 — invocations one environment runs at once. */
  readonly invocationsPerEnvironment?: number;
  /** The outcome of each `Event` invocation (nobody waits for it). */
  readonly onEventResult: (req: InvokeRequest, result: InvokeResult) => void;
}

export class EnvironmentPool {
  /** Environments with room for one more invocation, most recently used last. */
  private readonly idle: ExecutionEnvironment[] = [];
  private readonly onIdle = new WeakSet<ExecutionEnvironment>();
  private readonly all = new Set<ExecutionEnvironment>();
  private readonly queued: InvokeRequest[] = [];
  private active = 0;
  private peak = 0;
  private throttled = 0;
  private closed = false;
  private readonly perEnvironment: number;

  constructor(private readonly opts: PoolOptions) {
    this.perEnvironment = opts.invocationsPerEnvironment ?? 1;
  }

  /**
   * Invocations in flight and environments alive, for tests and `/stats`-like logging; `peak` is
   * the most invocations ever in flight at once, `throttled` the synchronous ones refused (429).
   */
  get stats(): { active: number; peak: number; throttled: number; environments: number; idle: number; queued: number } {
    return { active: this.active, peak: this.peak, throttled: this.throttled, environments: this.all.size, idle: this.idle.length, queued: this.queued.length };
  }

  /**
   * Starts a synchronous invocation; `null` when the function is at its concurrency limit.
   *
   * @example const running = pool.tryInvoke(req); if (!running) answer429(); else answer(await running);
   */
  tryInvoke(req: InvokeRequest): Promise<InvokeResult> | null {
    if (this.closed) return null;
    if (this.active >= this.opts.fn.concurrency) {
      this.throttled++;
      return null;
    }
    return this.run(req);
  }

  /** Accepts an `Event` invocation: it runs now, or when a slot frees up. */
  enqueue(req: InvokeRequest): void {
    if (this.closed) return;
    if (this.active < this.opts.fn.concurrency) this.runEvent(req);
    else this.queued.push(req);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queued.length = 0;
    this.idle.length = 0;
    await Promise.all([...this.all].map((env) => env.discard()));
  }

  private run(req: InvokeRequest): Promise<InvokeResult> {
    this.peak = Math.max(this.peak, ++this.active);
    const env = this.idle[this.idle.length - 1] ?? this.spawn();
    const running = env.invoke(req);
    if (env.inFlight >= this.perEnvironment) {
      this.idle.pop();
      this.onIdle.delete(env);
    }
    return running.then((result) => {
      this.release(env);
      return result;
    });
  }

  private runEvent(req: InvokeRequest): void {
    void this.run(req).then((result) => this.opts.onEventResult(req, result));
  }

  private release(env: ExecutionEnvironment): void {
    this.active--;
    if (env.alive && !this.closed && !this.onIdle.has(env)) this.push(env);
    while (this.queued.length > 0 && this.active < this.opts.fn.concurrency) {
      this.runEvent(this.queued.shift() as InvokeRequest);
    }
  }

  private spawn(): ExecutionEnvironment {
    const env: ExecutionEnvironment = new ExecutionEnvironment({
      fn: this.opts.fn,
      runtimeFile: this.opts.runtimeFile,
      data: this.opts.data,
      env: this.opts.env,
      onGone: (gone) => this.forget(gone),
    });
    this.all.add(env);
    this.push(env);
    return env;
  }

  private push(env: ExecutionEnvironment): void {
    this.idle.push(env);
    this.onIdle.add(env);
  }

  private forget(env: ExecutionEnvironment): void {
    this.all.delete(env);
    this.onIdle.delete(env);
    const i = this.idle.indexOf(env);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
