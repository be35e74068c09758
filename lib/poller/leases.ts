/**
 * A class's `concurrency` across every poller on one Redis: leases (lease-2n.lua). One lease is one
 * invocation running; all pollers together never hold more than the class's cap, so several poller
 * tasks never ask Lambda for more than the reserved concurrency.
 *
 * Tasks:
 * 1. Start an invocation only on a lease this poller holds and does not use (`take`), and return
 *    it when the invocation ends (`give`).
 * 2. Tell Redis what this poller wants — its running invocations plus what its waiting jobs need —
 *    in one call per event-loop turn for every class that changed; wait in the class's line when
 *    the cap is reached, and be served in turn.
 * 3. Reuse a freed lease at once, with no round trip, while nobody else waits for the class, or
 *    while this poller holds no more than its fair share (the cap divided among the pollers that
 *    want leases). Beyond it, once another poller waits (announced on the lease channel), give
 *    freed and idle leases back, so they go round the line in turn — with a cap smaller than the
 *    number of pollers, every lease goes round.
 * 4. Learn of leases granted by other pollers' calls from the announcement, and ask again every
 *    second while waiting, in case an announcement was lost (a Pub/Sub message is not durable).
 * 5. At shutdown, give back every lease not in use. A dead poller's leases are handed back by
 *    whoever recovers its jobs (recover-2n.lua).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import type { Logger } from '../log.js';

interface ClassLeases {
  readonly cap: number;
  /** Leases this poller holds, as Redis said at the last call (less those given back since). */
  held: number;
  /** Invocations running on them. */
  inUse: number;
  /** Leases freed while another poller waits: given back by the next call, never reused here. */
  returning: number;
  /** Leases wanted now: running plus what waiting jobs need, at most the cap. */
  wanted: number;
  /** What the last call asked for (so a wait in the line is not asked again and again). */
  asked: number;
  /** Another poller waits, or did at the last call: freed leases beyond the fair share go back to the line. */
  contended: boolean;
  /** Pollers holding or wanting leases of this class, at the last call (the cap is shared among them). */
  pollers: number;
  /** A call must tell Redis something new. */
  dirty: boolean;
  /** The next call gives back idle leases even while uncontended. */
  tidy: boolean;
}

export interface LeasesOptions {
  readonly redis: Redis;
  /** A connection in subscriber mode, for the class announcements. */
  readonly subscriber: Redis;
  readonly keys: Keys;
  readonly identity: string;
  /** Each class and its cap (the declared `concurrency`). */
  readonly caps: ReadonlyMap<string, number>;
  /** Called when leases may have become free to use. */
  readonly onChange: () => void;
  readonly log: Logger;
  /** @defaultValue 1000 — how often a poller waiting in a line asks again, and tidies idle leases. */
  readonly refreshMs?: number;
}

export class Leases {
  private readonly classes = new Map<string, ClassLeases>();
  /** The call under way, with the `keep` it sent per class: leases within it stay usable meanwhile. */
  private calling?: Map<string, number>;
  private scheduled = false;
  private closed = false;
  /** Quiet: no lease is wanted beyond what runs, and each one goes back as its invocation ends. */
  private quieted = false;
  private readonly timer: NodeJS.Timeout;
  /** Resolves once the announcements are subscribed to. */
  readonly ready: Promise<void>;
  private readonly onMessage = (_channel: string, message: string): void => this.announced(message);
  /** Announcements reach this poller (a Redis user without channel access gets none). */
  private subscribed = false;

  constructor(private readonly opts: LeasesOptions) {
    for (const [cls, cap] of opts.caps) this.classes.set(cls, { cap, held: 0, inUse: 0, returning: 0, wanted: 0, asked: 0, contended: false, pollers: 1, dirty: false, tidy: false });
    opts.subscriber.on('message', this.onMessage);
    this.ready = opts.subscriber.subscribe(opts.keys.leaseChannel).then(
      () => {
        this.subscribed = true;
      },
      (e: Error) => opts.log.warn('could not subscribe to lease announcements; asking every second instead', { error: e.message }),
    );
    this.timer = setInterval(() => this.refresh(), opts.refreshMs ?? 1000);
    this.timer.unref();
  }

  /** Leases of `cls` this poller may start invocations on now. */
  free(cls: string): number {
    const c = this.classes.get(cls)!;
    // While a call is under way it may give back anything beyond the `keep` it sent.
    const usable = this.calling ? Math.min(c.held, this.calling.get(cls) ?? c.held) : c.held;
    return Math.max(0, usable - c.inUse - c.returning);
  }

  /** Takes a free lease for one invocation; false when there is none. */
  take(cls: string): boolean {
    if (this.free(cls) <= 0) return false;
    this.classes.get(cls)!.inUse++;
    return true;
  }

  /** The invocation on a lease ended. Under contention, a lease beyond the fair share goes back to the line. */
  give(cls: string): void {
    const c = this.classes.get(cls)!;
    c.inUse--;
    if (this.quieted) return this.release(c);
    if (!c.contended || c.held - c.returning <= this.share(c)) return;
    c.returning++;
    this.mark(c);
  }

  /** The leases this poller may keep reusing while others wait: its whole share of the cap. */
  private share(c: ClassLeases): number {
    return Math.floor(c.cap / Math.max(1, c.pollers));
  }

  /** Quiet (and Stop): want nothing more; give back idle leases now, and the others as their invocations end. */
  quiet(): void {
    this.quieted = true;
    for (const c of this.classes.values()) this.release(c);
  }

  private release(c: ClassLeases): void {
    c.wanted = c.inUse;
    if (c.held <= c.inUse) return;
    c.tidy = true;
    this.mark(c);
  }

  /** How many leases of `cls` this poller wants now (running plus what its waiting jobs need). */
  want(cls: string, n: number): void {
    if (this.quieted) return;
    const c = this.classes.get(cls)!;
    c.wanted = Math.min(c.cap, Math.max(n, c.inUse));
    // Ask for more, unless this very number is already waiting in the line.
    if (c.wanted > c.held && c.wanted !== c.asked) this.mark(c);
    else if (c.contended && c.held > c.wanted) this.mark(c);
  }

  /** Per class, for /stats. */
  snapshot(cls: string): { leases: number; waitingForLeases: boolean } {
    const c = this.classes.get(cls)!;
    return { leases: c.held, waitingForLeases: c.wanted > c.held };
  }

  /** Gives back every lease not in use (those in use stay until the recovery of this poller). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.opts.subscriber.off('message', this.onMessage);
    for (const c of this.classes.values()) {
      c.wanted = c.inUse;
      c.dirty = true;
    }
    try {
      await this.call();
    } catch (e) {
      this.opts.log.warn('could not give back leases at shutdown; recovery will', { error: (e as Error).message });
    }
  }

  private mark(c: ClassLeases): void {
    c.dirty = true;
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.calling) void this.callSafely();
    });
  }

  /**
   * `wait`: another poller waits for a lease of the class — give back idle ones, and freed ones
   * from now on. `grant`: a lease went to a poller by another's call — if to this one, learn it.
   */
  private announced(message: string): void {
    const [kind, cls, who, pollers] = message.split('\n');
    const c = cls === undefined ? undefined : this.classes.get(cls);
    if (!c || who === undefined) return;
    if (kind === 'grant') {
      if (who === this.opts.identity) this.mark(c);
      return;
    }
    if (kind !== 'wait' || who === this.opts.identity) return;
    c.contended = true;
    c.pollers = Math.max(1, Number(pollers) || c.pollers);
    // Idle leases beyond the share go back now; running ones when they end.
    const give = Math.min(c.held - c.inUse - c.returning, c.held - c.returning - this.share(c));
    if (give > 0) {
      c.returning += give;
      this.mark(c);
    }
  }

  /**
   * Every second: ask again while waiting (an announcement may have been lost), and give back idle
   * leases (another poller may wait for them without this one having heard). Without announcements
   * at all, a holder also asks, to learn whether others wait (then it shares as it would have).
   */
  private refresh(): void {
    for (const c of this.classes.values()) {
      if (c.wanted > c.held) c.asked = -1;
      else if (c.held > c.wanted) c.tidy = true;
      else if (this.subscribed || c.held === 0) continue;
      this.mark(c);
    }
  }

  private async callSafely(): Promise<void> {
    try {
      await this.call();
    } catch (e) {
      // Asked again by the next refresh; leases in use are unaffected.
      this.opts.log.warn('could not update class leases; retrying', { error: (e as Error).message });
    }
  }

  /** One lease-2n.lua call for every class marked dirty; then another if something changed meanwhile. */
  private async call(): Promise<void> {
    const batch = [...this.classes].filter(([, c]) => c.dirty);
    if (batch.length === 0) return;
    // Keep everything but what is being given back (at least what runs) — only what runs when
    // tidying or closing, which give back every idle lease.
    const keep = new Map(batch.map(([cls, c]) => [cls, c.tidy || this.closed ? c.inUse : Math.max(c.inUse, c.held - c.returning)]));
    const returned = batch.map(([, c]) => c.returning);
    const keys = batch.flatMap(([cls]) => [this.opts.keys.leases(cls), this.opts.keys.leaseLine(cls)]);
    // A poller keeps what it holds (no round trip to reuse it) unless tidying; under contention the
    // script gives its idle leases to the line.
    const desired = batch.map(([, c]) => (c.tidy || this.closed ? c.wanted : Math.max(c.wanted, Math.min(c.held, c.cap))));
    const argv = batch.flatMap(([cls, c], i) => [cls, c.cap, c.held, keep.get(cls)!, desired[i]!]);
    for (const [, c] of batch) c.dirty = c.tidy = false;
    this.calling = keep;
    let reply: number[];
    try {
      reply = await this.opts.redis.sklLease_v1(keys.length, ...keys, this.opts.identity, this.opts.keys.leaseChannel, ...argv);
    } catch (e) {
      for (const [, c] of batch) c.dirty = true;
      throw e;
    } finally {
      this.calling = undefined;
    }
    batch.forEach(([, c], i) => {
      c.returning -= returned[i]!;
      c.held = Number(reply[3 * i]);
      c.contended = Number(reply[3 * i + 1]) > 0;
      c.pollers = Number(reply[3 * i + 2]);
      c.asked = desired[i]!;
    });
    this.opts.onChange();
    if (!this.closed && [...this.classes.values()].some((c) => c.dirty)) await this.call();
  }
}
