/**
 * Lua scripts, registered once per connection with `defineCommand` under a versioned name
 * (BullMQ's habit): a changed script gets a new name, so two releases sharing a Redis never call
 * each other's version. Each `.lua` file opens with its KEYS / ARGV / return contract and is loaded
 * as text by esbuild (and by vitest's `lua-as-text` plugin).
 *
 * To add a script: import its text, add one `SCRIPTS` entry, and type the command in the
 * `declare module 'ioredis'` block below.
 */
import type { ClientContext, Redis, Result } from 'ioredis';
import fetchSource from './fetch-2n.lua';
import settleSource from './settle-2.lua';
import recoverSource from './recover-2n.lua';
import leaseSource from './lease-2n.lua';
import ackSource from './ack-1.lua';
import ackPushSource from './ack-push-3n.lua';
import promoteSource from './promote-3n.lua';
import promoteLockSource from './promote-lock-1.lua';
import cronFireSource from './cron-fire-5.lua';
import cronStatusSource from './cron-status-1.lua';
import forwardSource from './forward-3.lua';
import moveSource from './move-2n.lua';
import rewriteSource from './rewrite-1.lua';
import uniqueLockSource from './unique-lock-8.lua';
import uniqueUnlockSource from './unique-unlock-7.lua';
import uniqueDeleteSource from './unique-delete-9.lua';

interface ScriptDef {
  /** The command name on the client: `<name>_v<version>`. */
  readonly name: string;
  /** Undefined for scripts whose key count varies: the caller passes it first. */
  readonly numberOfKeys: number | undefined;
  readonly source: string;
}

/** Every script, in one list. */
export const SCRIPTS: ScriptDef[] = [
  { name: 'sklFetch_v3', numberOfKeys: undefined, source: fetchSource },
  { name: 'sklSettle_v2', numberOfKeys: 2, source: settleSource },
  { name: 'sklRecover_v3', numberOfKeys: undefined, source: recoverSource },
  { name: 'sklLease_v1', numberOfKeys: undefined, source: leaseSource },
  { name: 'sklAck_v2', numberOfKeys: 1, source: ackSource },
  { name: 'sklAckPush_v1', numberOfKeys: undefined, source: ackPushSource },
  { name: 'sklPromote_v3', numberOfKeys: undefined, source: promoteSource },
  { name: 'sklPromoteLock_v1', numberOfKeys: 1, source: promoteLockSource },
  { name: 'sklCronFire_v1', numberOfKeys: 5, source: cronFireSource },
  { name: 'sklCronStatus_v1', numberOfKeys: 1, source: cronStatusSource },
  { name: 'sklForward_v2', numberOfKeys: 3, source: forwardSource },
  { name: 'sklMove_v2', numberOfKeys: undefined, source: moveSource },
  { name: 'sklRewrite_v1', numberOfKeys: 1, source: rewriteSource },
  { name: 'sklUniqueLock_v1', numberOfKeys: 8, source: uniqueLockSource },
  { name: 'sklUniqueUnlock_v1', numberOfKeys: 7, source: uniqueUnlockSource },
  { name: 'sklUniqueDelete_v1', numberOfKeys: 9, source: uniqueDeleteSource },
];

const registered = new WeakSet<Redis>();

/** Defines every script on a connection (idempotent). */
export function registerScripts(redis: Redis): Redis {
  if (registered.has(redis)) return redis;
  for (const s of SCRIPTS) {
    redis.defineCommand(s.name, s.numberOfKeys === undefined ? { lua: s.source } : { numberOfKeys: s.numberOfKeys, lua: s.source });
  }
  registered.add(redis);
  return redis;
}

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** fetch-2n.lua: numKeys, …[queue, in-flight] pairs, pollers, poller classes, own process, total, …per-queue caps, identity, queues JSON, classes JSON → [i, job, …], or -1 (heartbeat lapsed). */
    sklFetch_v3(numKeys: number, ...args: (string | number)[]): Result<(number | string)[] | number, Context>;
    /** settle-2.lua: inflight, dest, mode, raw, payload, score, deadCutoff, deadMax → 1 | 0. */
    sklSettle_v2(
      inflight: string,
      dest: string,
      mode: 'ack' | 'retry' | 'dead' | 'requeue',
      raw: string,
      payload: string,
      score: string,
      deadCutoff: string,
      deadMax: number,
    ): Result<number, Context>;
    /** ack-push-3n.lua: numKeys, inflight, queues, schedule, …queue lists, raw, nq, …names, …[k, score, payload] → 1 | 0 | -k (KEYS[k] of another type). */
    sklAckPush_v1(numKeys: number, ...args: (string | number)[]): Result<number, Context>;
    /** ack-1.lua: inflight, …raw jobs → a 1 | 0 per job: was it still in flight. */
    sklAck_v2(inflight: string, ...raws: string[]): Result<number[], Context>;
    /** recover-2n.lua: numKeys, process, pollers, poller classes, …[in-flight, queue], …[leases, line], identity, entry, nQueues → moved per queue, or -1 (alive) / -2 (entry changed). */
    sklRecover_v3(numKeys: number, ...args: (string | number)[]): Result<number[] | number, Context>;
    /** lease-2n.lua: numKeys, …[leases, line], identity, channel, …[class, cap, known, keep, desired] → [held, others waiting, pollers holding or wanting] per class. */
    sklLease_v1(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    /** promote-3n.lua: numKeys, set, queues, dead, …queue lists, now, deadScore, deadCutoff, deadMax, nq, …names, …[member, k, payload] → status per job. */
    sklPromote_v3(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    /** promote-lock-1.lua: lock, 'renew' | 'release', token, ttlMs → 1 if held by token, else 0. */
    sklPromoteLock_v1(lock: string, op: 'renew' | 'release', token: string, ttlMs: number): Result<number, Context>;
    /** cron-fire-5.lua: entry, enqueued, jid history, queues, queue, mode, score, member, forgetBefore, cron, lastEnqueue, history, size, queue name, payload → 1 | 0 | -1..-4. */
    sklCronFire_v1(
      entry: string,
      enqueued: string,
      jidHistory: string,
      queues: string,
      queue: string,
      mode: 'fire' | 'run',
      score: string,
      member: string,
      forgetBefore: string,
      cron: string,
      lastEnqueue: string,
      history: string,
      historySize: number,
      queueName: string,
      payload: string,
    ): Result<number, Context>;
    /** cron-status-1.lua: entry, 'enabled' | 'disabled' → 1 if the entry exists. */
    sklCronStatus_v1(entry: string, status: 'enabled' | 'disabled'): Result<number, Context>;
    /** forward-3.lua: inflight, dest list, queues, raw, payload, queue name ('' for a held list) → 1 | 0. */
    sklForward_v2(inflight: string, dest: string, queues: string, raw: string, payload: string, queueName: string): Result<number, Context>;
    /** move-2n.lua: numKeys, source, queues, …dest lists, n, …dest queue names, …[raw, k, payload] → 1 | 0 per job. */
    sklMove_v2(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    /** rewrite-1.lua: set, …[member, new member] → 1 | 0 per member. */
    sklRewrite_v1(set: string, ...pairs: string[]): Result<number[], Context>;
    /** unique-lock-8.lua: digest, queued, primed, locked, info, changelog, digests, expiring digests, jid, pttl, type, limit, score, now, maxHistory → jid | null. */
    sklUniqueLock_v1(...args: (string | number)[]): Result<string | null, Context>;
    /** unique-unlock-7.lua: digest, queued, primed, locked, info, changelog, digests, jid, type, limit, now, maxHistory → jid | null. */
    sklUniqueUnlock_v1(...args: (string | number)[]): Result<string | null, Context>;
    /** unique-delete-9.lua: the 4 queue-time and 4 runtime keys of a digest, digests → keys deleted. */
    sklUniqueDelete_v1(...keys: string[]): Result<number, Context>;
  }
}
