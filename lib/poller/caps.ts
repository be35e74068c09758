/**
 * Per-class concurrency for the poller: the declared cap, lowered when Lambda throttles and
 * raised again as invokes succeed (additive increase, multiplicative decrease).
 *
 * Tasks:
 * 1. Count invocations in flight for one class and say how many more may start.
 * 2. Halve the limit on a 429 (at most once per `cooldownMs`), and add one for every `limit`
 *    successes, back up to the declared cap.
 * 3. After a 429, start nothing new for a while — 50 ms, doubling with each further 429 up to
 *    2 s, reset by a success — so a throttled job is not fetched and re-invoked in a tight loop.
 */
export const THROTTLE_PAUSE_MS = { first: 50, max: 2000 } as const;

export class ClassLimiter {
  /** The current limit, between 1 and `cap`. */
  limit: number;
  inFlight = 0;
  private successes = 0;
  private lastCut = -Infinity;
  private throttles = 0;
  private pausedUntil = -Infinity;

  constructor(
    readonly cap: number,
    private readonly cooldownMs = 1000,
    private readonly clock: () => number = Date.now,
  ) {
    this.limit = cap;
  }

  /** Invocations that may start now (none while paused after a 429). */
  spare(): number {
    if (this.clock() < this.pausedUntil) return 0;
    return Math.max(0, this.limit - this.inFlight);
  }

  /** Milliseconds until invocations may start again after a 429 (0 when not paused). */
  pausedForMs(): number {
    return Math.max(0, this.pausedUntil - this.clock());
  }

  /** Records a 429; returns how long new invocations now wait, in ms. */
  onThrottle(): number {
    const now = this.clock();
    const pause = Math.min(THROTTLE_PAUSE_MS.first * 2 ** Math.min(this.throttles, 16), THROTTLE_PAUSE_MS.max);
    this.throttles++;
    this.pausedUntil = Math.max(this.pausedUntil, now + pause);
    if (now - this.lastCut >= this.cooldownMs) {
      this.lastCut = now;
      this.limit = Math.max(1, Math.floor(this.limit / 2));
      this.successes = 0;
    }
    return this.pausedForMs();
  }

  onSuccess(): void {
    this.throttles = 0;
    if (this.limit >= this.cap) return;
    if (++this.successes >= this.limit) {
      this.successes = 0;
      this.limit += 1;
    }
  }
}
