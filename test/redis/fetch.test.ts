/**
 * Reliable fetch against real Redis: queue order and caps, exactly-once orphan recovery when
 * several pollers race, settle's atomicity, and reconciling a lost fetch reply.
 */
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';
import { Fetcher, HeartbeatLapsed } from '../../lib/poller/fetch.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { createLogger } from '../../lib/log.js';

const t = useRedis();
const k = makeKeys();
const quiet = createLogger({ sink: () => undefined });

/** A fetcher whose poller has beaten (its process hash exists), as the poller's heartbeat makes it before fetching. */
function fetcher(identity: string): Fetcher {
  void t.redis.hset(k.process(identity), 'info', '{}');
  return new Fetcher(t.redis, () => new Redis(t.url), k, identity);
}

/** The poller's heartbeat lapses (its process hash expires). */
const lapse = (identity: string): Promise<number> => t.redis.del(k.process(identity));

describe('fetch', () => {
  it('takes queues in the order given, each up to its cap, oldest job first', async () => {
    await t.redis.lpush('queue:a', 'a1', 'a2', 'a3');
    await t.redis.lpush('queue:b', 'b1', 'b2');
    const f = fetcher('p:1:x');
    const got = await f.fetch(['a', 'b'], new Map([['a', 2], ['b', 5]]), 3);
    expect(got).toEqual([{ queue: 'a', raw: 'a1' }, { queue: 'a', raw: 'a2' }, { queue: 'b', raw: 'b1' }]);
    expect(await t.redis.lrange(f.inflightKey('a'), 0, -1)).toEqual(['a2', 'a1']);
    expect(await t.redis.lrange('queue:a', 0, -1)).toEqual(['a3']);
  });

  it('recovers a dead poller\'s in-flight jobs exactly once when several pollers race', async () => {
    // Prepare: a poller that registered, held 500 jobs, and died (no process hash)
    const dead = 'dead:1:aaaaaaaaaaaa';
    const jobs = Array.from({ length: 500 }, (_, i) => `job-${i}`);
    await t.redis.hset(k.pollers, dead, JSON.stringify(['q']));
    await t.redis.lpush(k.inflight(dead, 'q'), ...jobs);
    // Act: five live pollers recover at once
    const live = Array.from({ length: 5 }, (_, i) => fetcher(`live:${i}:bbbbbbbbbbbb`));
    const moved = await Promise.all(live.map((f) => f.recoverOrphans(quiet, [])));
    // Assess
    expect(moved.reduce((a, b) => a + b, 0)).toBe(500);
    const queue = await t.redis.lrange('queue:q', 0, -1);
    expect(queue.slice().sort()).toEqual(jobs.slice().sort());
    expect(queue.at(-1)).toBe('job-0'); // the oldest runs next
    expect(await t.redis.exists(k.inflight(dead, 'q'))).toBe(0);
    expect(await t.redis.hexists(k.pollers, dead)).toBe(0);
  });

  it('stops a recovery pass that went stale, leaving the rest for a later pass', async () => {
    // Prepare: two dead pollers
    for (const id of ['dead:1:aaaaaaaaaaaa', 'dead:2:aaaaaaaaaaaa']) {
      await t.redis.hset(k.pollers, id, JSON.stringify(['q']));
      await t.redis.lpush(k.inflight(id, 'q'), `job-of-${id}`);
    }
    // Act: the pass may go on for one poller only
    let allowed = 1;
    const f = fetcher('live:1:bbbbbbbbbbbb');
    expect(await f.recoverOrphans(quiet, [], () => allowed-- > 0)).toBe(1);
    // Assess: one list moved, the other untouched and still registered; the next pass takes it
    expect(await t.redis.llen('queue:q')).toBe(1);
    expect(await t.redis.hlen(k.pollers)).toBe(1);
    expect(await f.recoverOrphans(quiet, [])).toBe(1);
    expect(await t.redis.llen('queue:q')).toBe(2);
  });

  it('leaves a live poller\'s in-flight jobs alone', async () => {
    const alive = 'alive:1:cccccccccccc';
    await t.redis.hset(k.pollers, alive, JSON.stringify(['q']));
    await t.redis.hset(k.process(alive), 'info', '{}');
    await t.redis.lpush(k.inflight(alive, 'q'), 'j1');
    expect(await fetcher('me:1:dddddddddddd').recoverOrphans(quiet, [])).toBe(0);
    expect(await t.redis.llen(k.inflight(alive, 'q'))).toBe(1);
  });

  it('settles atomically, and writes nothing for a job that is no longer in flight', async () => {
    const f = fetcher('p:1:x');
    await t.redis.lpush('queue:q', 'j1', 'j2');
    const [a, b] = await f.fetch(['q'], new Map([['q', 2]]), 2);
    expect(await f.settle(a!, { mode: 'retry', payload: 'j1-failed', at: 1_795_334_860_000 }, Date.now())).toBe(true);
    expect(await t.redis.zrange('retry', 0, -1, 'WITHSCORES')).toEqual(['j1-failed', '1795334860']);
    // j2 was recovered by someone else meanwhile: the retry must not be written twice
    await t.redis.del(f.inflightKey('q'));
    expect(await f.settle(b!, { mode: 'dead', payload: 'j2-dead', at: Date.now() }, Date.now())).toBe(false);
    expect(await t.redis.zcard('dead')).toBe(0);
  });

  it('acknowledges each job, saying which were still in flight', async () => {
    const f = fetcher('p:1:x');
    await t.redis.lpush('queue:q', 'j1', 'j2', 'j3');
    const [j1, j2, j3] = await f.fetch(['q'], new Map([['q', 3]]), 3);
    // j2 was recovered by another poller meanwhile
    await t.redis.lrem(f.inflightKey('q'), 1, 'j2');
    // Acks in one event-loop turn go out together, yet each learns its own fate
    expect(await Promise.all([f.settle(j1!, { mode: 'ack' }, Date.now()), f.settle(j2!, { mode: 'ack' }, Date.now()), f.ack(j3!)])).toEqual([true, false, true]);
    expect(await t.redis.llen(f.inflightKey('q'))).toBe(0);
  });

  it('requeues what a lost fetch reply left in flight, keeping what this process runs', async () => {
    const f = fetcher('p:1:x');
    await t.redis.lpush(f.inflightKey('q'), 'running', 'lost');
    const n = await f.reconcile(['q'], new Map([['running', 1]]));
    expect(n).toBe(1);
    expect(await t.redis.lrange('queue:q', 0, -1)).toEqual(['lost']);
    expect(await t.redis.lrange(f.inflightKey('q'), 0, -1)).toEqual(['running']);
  });

  it('wakes a watch as soon as a job arrives, taking nothing from the queue', async () => {
    const f = fetcher('p:1:x');
    const waiting = f.watch('c', 2);
    await new Promise((r) => setTimeout(r, 100));
    await t.redis.lpush('queue:c', 'x');
    // Assess: the watch saw the job (long before its 2 s timeout) and left it where it was
    expect(await Promise.race([waiting, new Promise((r) => setTimeout(() => r('timed out'), 1500))])).toBe(true);
    expect(await t.redis.lrange('queue:c', 0, -1)).toEqual(['x']);
    expect(await t.redis.llen(f.inflightKey('c'))).toBe(0);
    f.closeWatches();
  });

  it('ends a watch of a queue that stays empty after its timeout, with nothing moved', async () => {
    const f = fetcher('p:1:x');
    expect(await f.watch('c', 1)).toBe(false);
    f.closeWatches();
  });

  it('drops a watch connection that stopped answering (a peer gone without a FIN) and watches on a fresh one', async () => {
    // Prepare: Redis behind a proxy that can go silent, as a half-open connection does
    const sockets: Socket[] = [];
    let silent = false;
    const proxy = createServer((client) => {
      const upstream = connect(new URL(t.url).port ? Number(new URL(t.url).port) : 6379, new URL(t.url).hostname);
      sockets.push(client, upstream);
      client.on('data', (d) => silent || upstream.write(d));
      upstream.on('data', (d) => silent || client.write(d));
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const via = new URL(t.url);
    via.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const made: Redis[] = [];
    const f = new Fetcher(t.redis, () => {
      const r = new Redis(via.toString());
      r.on('error', () => undefined);
      made.push(r);
      return r;
    }, k, 'p:1:x', 300);
    try {
      expect(await f.watch('c', 1)).toBe(false); // the connection works
      silent = true;
      // Act: a watch on the silent connection
      const started = Date.now();
      const ended = await Promise.race([f.watch('c', 1), new Promise((r) => setTimeout(() => r('hung'), 5000))]);
      // Assess: it ended soon after its timeout and grace, and the next watch uses a new connection that answers
      expect(ended).toBe(false);
      expect(Date.now() - started).toBeLessThan(2500);
      await eventually(() => made[0]!.status === 'end', 2000, 'the silent connection closed');
      silent = false;
      const waiting = f.watch('c', 2);
      await new Promise((r) => setTimeout(r, 100));
      await t.redis.lpush('queue:c', 'x');
      expect(await waiting).toBe(true);
      expect(made).toHaveLength(2);
    } finally {
      f.closeWatches();
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('re-registers a live poller that recovery dropped, so its next jobs can still be recovered', async () => {
    // Prepare: poller A registered, then its heartbeat lapsed and B's recovery dropped it
    const a = fetcher('a:1:eeeeeeeeeeee');
    await a.register(['q'], ['Track']);
    await t.redis.hdel(k.pollers, 'a:1:eeeeeeeeeeee');
    await t.redis.hdel(k.pollerClasses, 'a:1:eeeeeeeeeeee');
    // Act: A, alive after all (it beat again), fetches a job, then dies without settling it
    await t.redis.lpush('queue:q', 'j1');
    expect(await a.fetch(['q'], new Map([['q', 1]]), 1)).toEqual([{ queue: 'q', raw: 'j1' }]);
    expect(JSON.parse((await t.redis.hget(k.pollers, 'a:1:eeeeeeeeeeee'))!)).toEqual(['q']);
    expect(JSON.parse((await t.redis.hget(k.pollerClasses, 'a:1:eeeeeeeeeeee'))!)).toEqual(['Track']);
    await lapse('a:1:eeeeeeeeeeee');
    // Assess: with A's process key absent, B recovers the job
    expect(await fetcher('b:1:ffffffffffff').recoverOrphans(quiet, [])).toBe(1);
    expect(await t.redis.lrange('queue:q', 0, -1)).toEqual(['j1']);
  });

  it('takes nothing for a poller whose heartbeat lapsed, so a recovery racing it cannot run a job twice', async () => {
    // Prepare: poller A registered with one job in flight; its heartbeat lapsed (no process hash)
    const a = fetcher('a:1:eeeeeeeeeeee');
    await a.register(['q'], []);
    await t.redis.lpush('queue:q', 'j1', 'j2');
    await a.fetch(['q'], new Map([['q', 1]]), 1);
    await lapse('a:1:eeeeeeeeeeee');
    // Act: A, only slow, fetches again while B recovers it
    const [slow] = await Promise.allSettled([a.fetch(['q'], new Map([['q', 1]]), 1), fetcher('b:1:ffffffffffff').recoverOrphans(quiet, [])]);
    // Assess: A's fetch was refused and moved nothing; B gave A's job back; A is out of the registry
    expect(slow).toMatchObject({ status: 'rejected', reason: new HeartbeatLapsed() });
    expect(await t.redis.llen(a.inflightKey('q'))).toBe(0);
    expect((await t.redis.lrange('queue:q', 0, -1)).sort()).toEqual(['j1', 'j2']);
    expect(await t.redis.hexists(k.pollers, 'a:1:eeeeeeeeeeee')).toBe(0);
    // …and once A beats again it fetches, registered, so it stays recoverable
    await t.redis.hset(k.process('a:1:eeeeeeeeeeee'), 'info', '{}');
    expect(await a.fetch(['q'], new Map([['q', 1]]), 1)).toHaveLength(1);
    expect(await t.redis.hexists(k.pollers, 'a:1:eeeeeeeeeeee')).toBe(1);
  });

  it("hands back a dead poller's leases and takes it out of the lease lines", async () => {
    // Prepare: a dead poller held 3 leases of Track and waited for 2 more
    const dead = 'dead:1:aaaaaaaaaaaa';
    await t.redis.hset(k.pollers, dead, JSON.stringify(['q']));
    await t.redis.hset(k.leases('Track'), `h|${dead}`, 3, `w|${dead}`, 2, 'h|other:1:x', 1);
    await t.redis.rpush(k.leaseLine('Track'), 'other:1:x', dead);
    // Act
    await fetcher('live:1:bbbbbbbbbbbb').recoverOrphans(quiet, ['Track']);
    // Assess: only the other poller's lease and place in line remain
    expect(await t.redis.hgetall(k.leases('Track'))).toEqual({ 'h|other:1:x': '1' });
    expect(await t.redis.lrange(k.leaseLine('Track'), 0, -1)).toEqual(['other:1:x']);
    expect(await t.redis.hexists(k.pollers, dead)).toBe(0);
  });

  it("hands back a dead poller's leases of classes its recoverer does not declare", async () => {
    // Prepare: the dead poller ran class B; the live one declares only A
    const dead = 'dead:1:aaaaaaaaaaaa';
    await t.redis.hset(k.pollers, dead, JSON.stringify(['b']));
    await t.redis.hset(k.pollerClasses, dead, JSON.stringify(['B']));
    await t.redis.hset(k.leases('B'), `h|${dead}`, 1, 'w|next:1:x', 1);
    await t.redis.rpush(k.leaseLine('B'), 'next:1:x');
    // Act
    await fetcher('live:1:bbbbbbbbbbbb').recoverOrphans(quiet, ['A']);
    // Assess: B's lease is free again; the dead poller is gone from both registries
    expect(await t.redis.hgetall(k.leases('B'))).toEqual({ 'w|next:1:x': '1' });
    expect(await t.redis.hexists(k.pollerClasses, dead)).toBe(0);
  });

  it('leaves a poller whose registry entry changed since it was read for the next pass', async () => {
    const dead = 'dead:1:aaaaaaaaaaaa';
    await t.redis.hset(k.pollers, dead, JSON.stringify(['q', 'r']));
    await t.redis.lpush(k.inflight(dead, 'r'), 'j-r');
    const keyArgs = [k.process(dead), k.pollers, k.pollerClasses, k.inflight(dead, 'q'), 'queue:q'];
    expect(await t.redis.sklRecover_v3(keyArgs.length, ...keyArgs, dead, JSON.stringify(['q']), 1)).toBe(-2);
    expect(await t.redis.llen(k.inflight(dead, 'r'))).toBe(1);
    expect(await fetcher('live:1:bbbbbbbbbbbb').recoverOrphans(quiet, [])).toBe(1);
  });

  it('refuses an outcome whose destination holds another type before the job leaves flight, so it is not lost', async () => {
    // Prepare: a job in flight; `retry` and the queue are strings (an operator's mistake)
    const f = fetcher('p:1:x');
    await t.redis.lpush('queue:q', 'j1');
    const [j1] = await f.fetch(['q'], new Map([['q', 1]]), 1);
    await t.redis.set('retry', 'oops');
    // Act + Assess: each write is refused, and the job is still in flight, untouched
    await expect(f.settle(j1!, { mode: 'retry', payload: 'j1-failed', at: 1_795_334_860_000 }, Date.now())).rejects.toThrow('settle: retry holds a string, not a zset; nothing written, the job stays in flight');
    await t.redis.set('queue:q', 'oops');
    await expect(f.settle(j1!, { mode: 'requeue' }, Date.now())).rejects.toThrow('settle: queue:q holds a string, not a list');
    await expect(f.forward(j1!, { queue: 'q' }, 'j1')).rejects.toThrow('forward: queue:q holds a string, not a list');
    expect(await t.redis.lrange(f.inflightKey('q'), 0, -1)).toEqual(['j1']);
  });

  it('refuses a score that is not a finite number before the job leaves flight', async () => {
    const f = fetcher('p:1:x');
    await t.redis.lpush('queue:q', 'j1');
    const [j1] = await f.fetch(['q'], new Map([['q', 1]]), 1);
    await expect(t.redis.sklSettle_v2(f.inflightKey('q'), 'retry', 'retry', 'j1', 'j1-failed', 'inf', '', 0)).rejects.toThrow('settle: score inf is not a finite number');
    expect(await t.redis.lrange(f.inflightKey('q'), 0, -1)).toEqual(['j1']);
  });
});
