/**
 * Reliable fetch: jobs move atomically from `queue:<q>` into an in-flight list private to this
 * poller and leave it only once their outcome is written. Sidekiq OSS's BRPOP loses in-flight
 * jobs when a process dies; this does not.
 *
 * Tasks:
 * 1. Order queues as Sidekiq does: strict (the order given) or weighted (shuffle the list in which
 *    each queue appears `weight` times, keep first occurrences) on every fetch.
 * 2. Fetch a batch across queues in one round trip (fetch-2n.lua), each queue with its own cap,
 *    registering this poller in the same step; watch an empty queue without taking anything from
 *    it, so an idle poller wakes the moment a job arrives.
 * 3. Settle an outcome (ack, retry, dead, requeue) and leave the in-flight list in one step
 *    (settle-2.lua; acks of one event-loop turn together, ack-1.lua).
 * 4. Recover the in-flight lists, registry entry and leases of pollers whose heartbeat expired,
 *    in one atomic step per poller (recover-2n.lua), exactly once.
 * 5. After a reconnect, give back jobs our in-flight lists hold that this process does not know
 *    about (a fetch whose reply was lost with the connection).
 * 6. Forward a job the routing table sends elsewhere (its Ruby queue, its Lambda queue, the held
 *    list of a paused class) and leave the in-flight list in one step (forward-3.lua).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import type { Logger } from '../log.js';
import { score } from '../protocol/time.js';
import type { Enqueue } from '../protocol/event.js';
import { DEAD_MAX_JOBS, DEAD_TIMEOUT_SECONDS } from '../sidekiq/retry.js';
import { registerScripts } from '../redis/scripts.js';
import type { QueueWeight } from '../config.js';

export interface Fetched {
  readonly queue: string;
  readonly raw: string;
}

/** Sidekiq's queue order for one fetch: strict when no weight > 0, else a weighted shuffle. */
export function queueOrder(queues: readonly QueueWeight[], random: () => number = Math.random): string[] {
  if (!queues.some((q) => q.weight > 0)) return [...new Set(queues.map((q) => q.name))];
  const expanded: string[] = [];
  for (const q of queues) for (let i = 0; i < Math.max(q.weight, 1); i++) expanded.push(q.name);
  for (let i = expanded.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [expanded[i], expanded[j]] = [expanded[j]!, expanded[i]!];
  }
  return [...new Set(expanded)];
}

/** The names in a registry entry (its queues, or its classes): a JSON list (an unreadable entry lists none). */
export function registeredQueues(entry: string): string[] {
  try {
    const v: unknown = JSON.parse(entry);
    return Array.isArray(v) ? v.filter((q): q is string => typeof q === 'string') : [];
  } catch {
    return [];
  }
}

/** A job's enqueues cannot be written: a key they go to holds another type. Nothing was written. */
export class EnqueueRefused extends Error {
  override name = 'SidekiqLambda::EnqueueRefused';
  constructor(readonly key: string) {
    super(`${key} holds another type than Sidekiq's, so the jobs this job enqueued cannot be written there`);
  }
}

/** A fetch refused because this poller's heartbeat lapsed (its next beat lets it fetch again). */
export class HeartbeatLapsed extends Error {
  override name = 'HeartbeatLapsed';
  constructor() {
    super("this poller's heartbeat has lapsed, so it fetches nothing until it beats again (another poller may be recovering it)");
  }
}

export type Outcome =
  | { readonly mode: 'ack'; readonly enqueued?: readonly Enqueue[] }
  | { readonly mode: 'requeue' }
  | { readonly mode: 'retry'; readonly payload: string; readonly at: number }
  | { readonly mode: 'dead'; readonly payload: string; readonly at: number };

export class Fetcher {
  /** One blocking connection per queue, made on first use (BLMOVE watches a single list). */
  private readonly blockers = new Map<string, Redis>();

  constructor(
    private readonly redis: Redis,
    /** Makes a dedicated connection for blocking on one queue. */
    private readonly blockingConnection: () => Redis,
    private readonly keys: Keys,
    readonly identity: string,
    /** How long past its timeout a watch may last before its connection is taken for dead. */
    private readonly watchGraceMs = 10_000,
  ) {
    registerScripts(redis);
  }

  inflightKey(queue: string): string {
    return this.keys.inflight(this.identity, queue);
  }

  /** This poller's queues and classes, as the registry holds them. */
  private registration = '[]';
  private classes = '[]';

  /**
   * Registers this poller, its queues and its classes, so others can recover its lists and hand
   * back its leases if it dies. Every fetch registers again, atomically with the move (fetch-2n.lua).
   */
  async register(queues: readonly string[], classes: readonly string[]): Promise<void> {
    this.registration = JSON.stringify(queues);
    this.classes = JSON.stringify(classes);
    await this.redis.multi().hset(this.keys.pollers, this.identity, this.registration).hset(this.keys.pollerClasses, this.identity, this.classes).exec();
  }

  /** Leaves the registry when nothing of this poller's is left in flight (else its recovery will clean up). */
  async unregisterIfEmpty(queues: readonly string[]): Promise<void> {
    const lens = await Promise.all(queues.map((q) => this.redis.llen(this.inflightKey(q))));
    if (lens.every((n) => n === 0)) await this.redis.multi().hdel(this.keys.pollers, this.identity).hdel(this.keys.pollerClasses, this.identity).exec();
  }

  /**
   * Moves up to `total` jobs into flight, queue by queue in `order`, at most `caps[q]` from a queue.
   */
  async fetch(order: readonly string[], caps: ReadonlyMap<string, number>, total: number): Promise<Fetched[]> {
    const eligible = order.filter((q) => (caps.get(q) ?? 0) > 0);
    if (eligible.length === 0 || total <= 0) return [];
    const keyArgs = [...eligible.flatMap((q) => [this.keys.queue(q), this.inflightKey(q)]), this.keys.pollers, this.keys.pollerClasses, this.keys.process(this.identity)];
    const reply = await this.redis.sklFetch_v3(keyArgs.length, ...keyArgs, total, ...eligible.map((q) => caps.get(q)!), this.identity, this.registration, this.classes);
    if (!Array.isArray(reply)) throw new HeartbeatLapsed();
    const out: Fetched[] = [];
    for (let i = 0; i < reply.length; i += 2) out.push({ queue: eligible[Number(reply[i]) - 1]!, raw: String(reply[i + 1]) });
    return out;
  }

  /**
   * Idle wait: resolves true as soon as `queue:<q>` holds a job, false after `timeoutSeconds`.
   * It moves nothing (`BLMOVE q q RIGHT RIGHT` only rotates a list's last job onto itself), so a
   * watch never holds a job — the fetch that follows does, registered and atomic — and a watch cut
   * short by a dropped connection or by shutdown loses nothing. Every poller watching the queue
   * wakes. Each queue has its own connection (a blocking command watches one list).
   *
   * A watch still unanswered well past its timeout is on a dead connection (a peer gone without a
   * FIN, as after a failover): the connection is dropped, the watch ends as empty, and the next
   * watch opens a fresh one.
   */
  async watch(queue: string, timeoutSeconds: number): Promise<boolean> {
    let conn = this.blockers.get(queue);
    if (!conn) this.blockers.set(queue, (conn = this.blockingConnection()));
    const key = this.keys.queue(queue);
    const reply = conn.blmove(key, key, 'RIGHT', 'RIGHT', timeoutSeconds);
    reply.catch(() => undefined); // a dropped connection's answer is not waited for
    let timer: NodeJS.Timeout | undefined;
    const dead = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        if (this.blockers.get(queue) === conn) this.blockers.delete(queue);
        conn.disconnect();
        resolve(null);
      }, timeoutSeconds * 1000 + this.watchGraceMs);
      timer.unref();
    });
    try {
      return (await Promise.race([reply, dead])) !== null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends every watch and closes the blocking connections (nothing is held by a watch). */
  closeWatches(): void {
    for (const c of this.blockers.values()) c.disconnect();
    this.blockers.clear();
  }

  /** Acknowledgements waiting for the end of this event-loop turn, by queue. */
  private acks = new Map<string, string[]>();
  private ackFlush?: Promise<Map<string, Promise<number[]>>>;

  /**
   * Acknowledges a finished job. Acks issued in the same event-loop turn go out as one ack-1.lua
   * call per queue, so a busy poller pays one round trip for many jobs. Resolves once written:
   * true if the job was still in flight, false if another poller had recovered it.
   */
  async ack(job: Fetched): Promise<boolean> {
    let list = this.acks.get(job.queue);
    if (!list) this.acks.set(job.queue, (list = []));
    const i = list.push(job.raw) - 1;
    this.ackFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.acks;
      this.acks = new Map();
      this.ackFlush = undefined;
      // One call per queue, each settling on its own: one queue's refusal fails only its acks.
      return new Map([...batch].map(([q, raws]) => [q, this.redis.sklAck_v2(this.inflightKey(q), ...raws)] as const));
    });
    const removed = await (await this.ackFlush).get(job.queue)!;
    return removed[i] === 1;
  }

  /**
   * Acknowledges a job and writes the jobs it enqueued in the same step (ack-push-3n.lua): they
   * land if and only if its success does. False if it was no longer ours (nothing written).
   */
  private async ackPush(job: Fetched, enqueued: readonly Enqueue[]): Promise<boolean> {
    const queues = [...new Set(enqueued.flatMap((e) => (e.queue === undefined ? [] : [e.queue])))];
    const keyArgs = [this.inflightKey(job.queue), this.keys.queues, this.keys.schedule, ...queues.map((q) => this.keys.queue(q))];
    const triples = enqueued.flatMap((e) => (e.queue === undefined ? [0, score(e.at), e.payload] : [queues.indexOf(e.queue) + 1, '', e.payload]));
    const r = await this.redis.sklAckPush_v1(keyArgs.length, ...keyArgs, job.raw, queues.length, ...queues, ...triples);
    if (r < 0) throw new EnqueueRefused(keyArgs[-r - 1]!);
    return r === 1;
  }

  /** Writes an outcome and removes the job from flight atomically. False if it was no longer ours. */
  async settle(job: Fetched, outcome: Outcome, now: number): Promise<boolean> {
    const inflight = this.inflightKey(job.queue);
    let r: number;
    switch (outcome.mode) {
      case 'ack':
        return outcome.enqueued?.length ? this.ackPush(job, outcome.enqueued) : this.ack(job);
      case 'requeue':
        r = await this.redis.sklSettle_v2(inflight, this.keys.queue(job.queue), 'requeue', job.raw, '', '', '', 0);
        break;
      case 'retry':
        r = await this.redis.sklSettle_v2(inflight, this.keys.retry, 'retry', job.raw, outcome.payload, score(outcome.at), '', 0);
        break;
      case 'dead':
        r = await this.redis.sklSettle_v2(
          inflight,
          this.keys.dead,
          'dead',
          job.raw,
          outcome.payload,
          score(outcome.at),
          score(now - DEAD_TIMEOUT_SECONDS * 1000),
          DEAD_MAX_JOBS,
        );
        break;
    }
    return r === 1;
  }

  /**
   * Takes a fetched job out of flight and pushes `payload` to a queue (`{ queue }`) or to a paused
   * class's held list (`{ held: class }`), atomically (forward-3.lua). Resolves false when the job
   * was no longer in flight (recovered by another poller, which routes it again).
   */
  async forward(job: Fetched, to: { readonly queue: string } | { readonly held: string }, payload: string): Promise<boolean> {
    const [dest, name] = 'queue' in to ? [this.keys.queue(to.queue), to.queue] : [this.keys.held(to.held), ''];
    return (await this.redis.sklForward_v2(this.inflightKey(job.queue), dest, this.keys.queues, job.raw, payload, name)) === 1;
  }

  /**
   * Returns the in-flight jobs of every poller whose heartbeat expired to their queues, drops it
   * from the registry and hands back its leases of `classes` — for each poller in one atomic step
   * (recover-2n.lua). Safe to run from every poller at once: the first moves every job, the others
   * find nothing. `proceed` is asked before each poller: a pass that went stale (say, parked
   * through an outage) stops there. Resolves to the number of jobs moved. (Pollers waiting for
   * the leases handed back learn of them when they next ask, within a second.)
   */
  async recoverOrphans(log: Logger, classes: readonly string[], proceed: () => boolean = () => true): Promise<number> {
    const [pollers, pollerClasses] = await Promise.all([this.redis.hgetall(this.keys.pollers), this.redis.hgetall(this.keys.pollerClasses)]);
    let total = 0;
    for (const identity of new Set([...Object.keys(pollers), ...Object.keys(pollerClasses)])) {
      if (identity === this.identity) continue;
      if (!proceed()) break;
      const entry = pollers[identity] ?? '';
      const queues = registeredQueues(entry);
      // Its leases of every class it declared, and of ours (a poller of an older release listed none).
      const leaseClasses = [...new Set([...classes, ...registeredQueues(pollerClasses[identity] ?? '[]')])];
      const keyArgs = [
        this.keys.process(identity),
        this.keys.pollers,
        this.keys.pollerClasses,
        ...queues.flatMap((q) => [this.keys.inflight(identity, q), this.keys.queue(q)]),
        ...leaseClasses.flatMap((c) => [this.keys.leases(c), this.keys.leaseLine(c)]),
      ];
      const moved = await this.redis.sklRecover_v3(keyArgs.length, ...keyArgs, identity, entry, queues.length);
      if (!Array.isArray(moved)) continue; // alive (-1), or its entry changed (-2): the next pass reads it again
      moved.forEach((n, i) => {
        if (Number(n) > 0) log.warn('recovered in-flight jobs of a dead poller', { poller: identity, queue: queues[i], jobs: Number(n) });
        total += Number(n);
      });
    }
    return total;
  }


  /**
   * Requeues jobs in our own in-flight lists that this process is not running: the result of a
   * fetch whose reply was lost when the connection dropped. `known` counts raw strings in memory.
   */
  async reconcile(queues: readonly string[], known: ReadonlyMap<string, number>): Promise<number> {
    let requeued = 0;
    for (const q of queues) {
      const held = await this.redis.lrange(this.inflightKey(q), 0, -1);
      const seen = new Map<string, number>();
      for (const raw of held) {
        const n = (seen.get(raw) ?? 0) + 1;
        seen.set(raw, n);
        if (n > (known.get(raw) ?? 0)) {
          if (await this.settle({ queue: q, raw }, { mode: 'requeue' }, Date.now())) requeued++;
        }
      }
    }
    return requeued;
  }
}
