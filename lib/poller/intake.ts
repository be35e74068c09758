/**
 * The intake: what the manager takes from Redis, and when — Sidekiq's fetch loop, as a state
 * machine the manager drives on every event rather than a loop that sleeps.
 *
 * Tasks:
 * 1. Fetch from each queue, in Sidekiq's order, the room its classes have (the manager says how
 *    much), within the budget; in chunks, not a round trip per finished job — a class with a free
 *    slot and nothing to start waits at most REFILL_MS for more room while running jobs free it.
 * 2. Mark a queue that gave less than asked as empty, and watch it (a blocking read that takes
 *    nothing) until a job arrives; then fetch from it again.
 * 3. After a reconnect, reconcile our in-flight lists before the next fetch (a fetch reply may have
 *    been lost with the connection); back off while Redis refuses.
 * 4. Say how long it has waited on Redis beyond what it should (/healthz).
 */
import type { QueueWeight } from '../config.js';
import type { Logger } from '../log.js';
import { HeartbeatLapsed, queueOrder, type Fetcher, type Fetched } from './fetch.js';

/** How long a small refill waits for more room to free up before it goes out anyway. */
const REFILL_MS = 2;

/** What a queue's classes can take now. */
export interface Room {
  /** Jobs the queue may give: what its classes lack of twice what they can run at once. */
  readonly room: number;
  /** A class of the queue has a free slot and nothing waiting to start. */
  readonly dry: boolean;
  /** Twice what its classes can run at once. */
  readonly target: number;
}

export interface IntakeOptions {
  readonly fetcher: Fetcher;
  readonly queues: readonly QueueWeight[];
  readonly log: Logger;
  /** The most jobs held at once (running and waiting): a refill chunk is an eighth of what a queue can take, at most this. */
  readonly holdLimit: number;
  /** @defaultValue 2 — seconds a watch of an empty queue blocks before the queue is fetched again. */
  readonly watchSeconds?: number;
  /** What a queue's classes can take now. */
  readonly room: (queue: string) => Room;
  /** A fetched batch, to take in hand. */
  readonly onBatch: (batch: readonly Fetched[]) => void;
  /** Something changed: look again soon. */
  readonly kick: () => void;
  /** Look again at this time at the latest. */
  readonly wakeAt: (at: number) => void;
}

export class Intake {
  /** Queues a fetch found empty: watched, not fetched, until a job arrives. */
  private readonly empty = new Set<string>();
  /** Queues watched now, with when each watch should have ended at the latest. */
  private readonly watching = new Map<string, number>();
  private fetching = false;
  private fetchSince = 0;
  private retryAt = 0;
  private backoffMs = 100;
  /** When a small refill waiting for more room goes out anyway. */
  private refillAt?: number;
  private needsReconcile = false;
  private stopped = false;

  constructor(private readonly opts: IntakeOptions) {}

  /** After a reconnect: our in-flight lists may hold jobs whose fetch reply was lost. */
  reconcileSoon(): void {
    this.needsReconcile = true;
    this.opts.kick();
  }

  /** Fetch and watch nothing more (nothing is held by a watch); a pending reconcile still runs. */
  stop(): void {
    this.stopped = true;
    this.opts.fetcher.closeWatches();
  }

  /**
   * How long it has waited on Redis beyond what it should (0 when it has not): a fetch under way
   * for that long, or a watch that outlived its timeout by that much — a connection that stopped
   * answering without closing.
   */
  stalledForMs(now = Date.now()): number {
    let stalled = this.fetching ? now - this.fetchSince : 0;
    for (const endBy of this.watching.values()) stalled = Math.max(stalled, now - endBy);
    return stalled;
  }

  /**
   * Does what it can now: a reconcile or a fetch (one at a time), and watches of empty queues.
   * `budget` is how many more jobs may be held; `running` whether jobs are running (their end frees room).
   */
  pump(budget: number, running: boolean, known: ReadonlyMap<string, number>): void {
    // A reconcile runs even once stopped: the jobs a lost fetch reply left must go back.
    if (this.needsReconcile && !this.fetching) this.reconcile(known);
    else if (this.stopped) return;
    else if (!this.fetching && Date.now() >= this.retryAt) this.fetch(budget, running);
    if (budget > 0 && !this.stopped) this.watchEmpty();
  }

  private fetch(budget: number, running: boolean): void {
    if (budget <= 0) return;
    const caps = new Map<string, number>();
    let chunked = false;
    for (const q of queueOrder(this.opts.queues)) {
      if (this.empty.has(q)) continue;
      const { room, dry, target } = this.opts.room(q);
      const want = Math.min(room, budget);
      if (want <= 0) continue;
      const chunk = Math.max(1, Math.floor(Math.min(target, this.opts.holdLimit) / 8));
      if (want >= chunk) chunked = true;
      if (want >= chunk || dry) caps.set(q, want);
    }
    if (caps.size === 0) return;
    if (!chunked && running) {
      const now = Date.now();
      this.refillAt ??= now + REFILL_MS;
      if (now < this.refillAt) return this.opts.wakeAt(this.refillAt);
    }
    this.refillAt = undefined;
    const order = [...caps.keys()];
    this.fetching = true;
    this.fetchSince = Date.now();
    this.opts.fetcher.fetch(order, caps, budget).then(
      (batch) => {
        this.fetching = false;
        this.backoffMs = 100;
        // A queue that gave less than it was asked for while the budget lasted is empty: watch it.
        let left = budget;
        for (const q of order) {
          const got = batch.filter((f) => f.queue === q).length;
          if (got < Math.min(caps.get(q)!, left)) this.empty.add(q);
          left -= got;
        }
        this.opts.onBatch(batch);
      },
      (e: Error) => this.failed(e instanceof HeartbeatLapsed ? 'fetch refused until this poller beats again' : 'fetch failed; retrying', e),
    ).catch((e: Error) => this.opts.log.error('unexpected error taking a fetched batch in hand', { error: e.stack }));
  }

  private failed(msg: string, e: Error): void {
    this.fetching = false;
    this.opts.log.error(msg, { error: e.message, retryInMs: this.backoffMs });
    this.retryAt = Date.now() + this.backoffMs;
    this.opts.wakeAt(this.retryAt);
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
  }

  private reconcile(known: ReadonlyMap<string, number>): void {
    this.needsReconcile = false;
    this.fetching = true;
    this.fetchSince = Date.now();
    const queues = [...new Set(this.opts.queues.map((q) => q.name))];
    this.opts.fetcher.reconcile(queues, known).then(
      (n) => {
        this.fetching = false;
        if (n > 0) this.opts.log.warn('requeued jobs left in flight by a lost fetch reply', { jobs: n });
        this.opts.kick();
      },
      (e: Error) => {
        this.needsReconcile = true; // a reconcile Redis refused is tried again
        this.failed('reconcile after a reconnect failed; retrying', e);
      },
    );
  }

  /** Watches every empty queue that could take jobs now; a job arriving (or the watch ending) ends its emptiness. */
  private watchEmpty(): void {
    for (const q of this.empty) {
      if (this.watching.has(q) || this.opts.room(q).room <= 0) continue;
      const seconds = this.opts.watchSeconds ?? 2;
      this.watching.set(q, Date.now() + seconds * 1000);
      this.opts.fetcher.watch(q, seconds).then(
        () => this.watched(q),
        (e: Error) => {
          if (!this.stopped) this.opts.log.warn('watching an empty queue failed', { queue: q, error: e.message });
          setTimeout(() => this.watched(q), 1000).unref();
        },
      );
    }
  }

  private watched(q: string): void {
    this.watching.delete(q);
    this.empty.delete(q);
    this.opts.kick();
  }
}
