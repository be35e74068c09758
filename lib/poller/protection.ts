/**
 * ECS task scale-in protection while jobs run, so a deploy or a scale-in does not stop a poller in
 * the middle of a job that could outlast its shutdown wait (ECS allows a task at most 120 s after
 * SIGTERM; a job function may run 900 s).
 *
 * Tasks:
 * 1. Every second, look at the jobs in running invocations. When there are some, protect this task
 *    through the container agent's endpoint (`PUT $ECS_AGENT_URI/task-protection/v1/state`,
 *    `{"ProtectionEnabled":true,"ExpiresInMinutes":N}`); renew it before it expires while they
 *    run; release it (`{"ProtectionEnabled":false}`) as soon as none run.
 * 2. Bound it, so a deploy still completes under continuous load: one stretch of protection lasts
 *    at most `maxMinutes`; then it is released and not asked for again for `pauseMinutes`, which
 *    lets a waiting deploy or scale-in stop this task (its jobs still running then run again:
 *    at-least-once). Each request also expires by itself, so a poller that hangs cannot hold a
 *    task forever.
 * 3. Never fail the poller over it: an agent that refuses or cannot be reached is logged, and asked
 *    again at the next tick.
 */
import type { Logger } from '../log.js';

/** The agent's path for scale-in protection. */
export const PROTECTION_PATH = '/task-protection/v1/state';

export interface ProtectionOptions {
  /** `ECS_AGENT_URI`, which ECS sets in every container. */
  readonly agentUri: string;
  /** Jobs in running invocations now (`Poller.running()`). */
  readonly running: () => number;
  /** The longest stretch of protection, in minutes. */
  readonly maxMinutes: number;
  readonly log: Logger;
  /** @defaultValue 2 — minutes without protection after a stretch reached `maxMinutes`. */
  readonly pauseMinutes?: number;
  /** @defaultValue 5 — minutes each request protects for (renewed at half-time while jobs run). */
  readonly requestMinutes?: number;
  /** @defaultValue 1000 */
  readonly intervalMs?: number;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

const MINUTE = 60_000;

/**
 * Scale-in protection for the task this poller runs in, driven by its running jobs.
 *
 * @example
 * const protection = new TaskProtection({ agentUri: process.env.ECS_AGENT_URI!, running: () => poller.running(), maxMinutes: 30, log }).start();
 * await protection.stop(); // on shutdown: released
 */
export class TaskProtection {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  /** While protected: when the stretch began and when the current request expires. */
  private stretch?: { readonly since: number; expiresAt: number; minutes: number };
  private pausedUntil = 0;
  private readonly now: () => number;
  private readonly url: string;

  constructor(private readonly opts: ProtectionOptions) {
    this.now = opts.now ?? Date.now;
    this.url = opts.agentUri.replace(/\/$/, '') + PROTECTION_PATH;
  }

  /** Whether this task is protected now, as far as this poller knows. */
  get protected(): boolean {
    return this.stretch !== undefined;
  }

  /** Ticks every `intervalMs` until `stop()`. */
  start(): this {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
    return this;
  }

  /** Stops ticking and releases protection if it is held (the task is stopping anyway). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    if (this.stretch) await this.set(false);
    this.stretch = undefined;
  }

  /** One look at the running jobs; at most one request to the agent. Ticks never overlap. */
  tick(): Promise<void> {
    this.ticking ??= this.decide().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async decide(): Promise<void> {
    const now = this.now();
    const running = this.opts.running() > 0;
    const s = this.stretch;
    if (!s) {
      if (running && now >= this.pausedUntil) await this.protect(now, now);
      return;
    }
    if (!running) {
      if (await this.set(false)) this.stretch = undefined;
      return;
    }
    const end = s.since + this.opts.maxMinutes * MINUTE;
    if (now >= end) {
      if (await this.set(false)) {
        this.stretch = undefined;
        this.pausedUntil = now + (this.opts.pauseMinutes ?? 2) * MINUTE;
        this.opts.log.warn('scale-in protection: stretch limit reached; unprotected for a while so a waiting deploy or scale-in can proceed', {
          maxMinutes: this.opts.maxMinutes,
          runningJobs: this.opts.running(),
        });
      }
      return;
    }
    // Renew at half-time, unless the request already reaches the end of the stretch.
    if (s.expiresAt < end && s.expiresAt - now < (s.minutes * MINUTE) / 2) await this.protect(s.since, now);
  }

  /** Protects until the next renewal, never past the end of the stretch that began at `since`. */
  private async protect(since: number, now: number): Promise<void> {
    const left = since + this.opts.maxMinutes * MINUTE - now;
    const minutes = Math.max(1, Math.min(this.opts.requestMinutes ?? 5, Math.ceil(left / MINUTE)));
    if (await this.set(true, minutes)) {
      if (!this.stretch) this.opts.log.info('scale-in protection: on while jobs run', { minutes });
      this.stretch = { since, expiresAt: now + minutes * MINUTE, minutes };
    }
  }

  /** One PUT to the agent; true when it took effect. */
  private async set(enabled: boolean, minutes?: number): Promise<boolean> {
    const body = enabled ? { ProtectionEnabled: true, ExpiresInMinutes: minutes } : { ProtectionEnabled: false };
    try {
      const res = await fetch(this.url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      const answer = (await res.json().catch(() => ({}))) as { failure?: { Reason?: string; Detail?: string }; error?: { Code?: string; Message?: string } };
      if (res.ok && !answer.failure && !answer.error) {
        if (!enabled) this.opts.log.info('scale-in protection: off');
        return true;
      }
      const why = answer.failure ? `${answer.failure.Reason}: ${answer.failure.Detail ?? ''}` : answer.error ? `${answer.error.Code}: ${answer.error.Message ?? ''}` : `HTTP ${res.status}`;
      this.opts.log.warn('scale-in protection: the ECS agent refused; will ask again', { enabled, reason: why.trim() });
    } catch (e) {
      this.opts.log.warn('scale-in protection: the ECS agent did not answer; will ask again', { enabled, error: (e as Error).message });
    }
    return false;
  }
}
