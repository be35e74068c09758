/**
 * Per-class concurrency for the poller: the declared cap, lowered when Lambda throttles and
 * raised again as invokes succeed (additive increase, multiplicative decrease).
 *
 * Tasks:
 * 1. Count invocations in flight for one class and say how many more may start.
 * 2. Halve the limit on a 429 (at most once per `cooldownMs`), and add one for every `limit`
 *    successes, back up to the declared cap.
 */
export class ClassLimiter {
  /** The current limit, between 1 and `cap`. */
  limit: number;
  inFlight = 0;
  private successes = 0;
  private lastCut = -Infinity;

  constructor(
    readonly cap: number,
    private readonly cooldownMs = 1000,
    private readonly clock: () => number = Date.now,
  ) {
    this.limit = cap;
  }

  /** Invocations that may start now. */
  spare(): number {
    return Math.max(0, this.limit - this.inFlight);
  }

  onThrottle(): void {
    const now = this.clock();
    if (now - this.lastCut < this.cooldownMs) return;
    this.lastCut = now;
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    this.successes = 0;
  }

  onSuccess(): void {
    if (this.limit >= this.cap) return;
    if (++this.successes >= this.limit) {
      this.successes = 0;
      this.limit += 1;
    }
  }
}
