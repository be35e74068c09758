/**
 * Class leases on real Redis (lease-2n.lua through `Leases`): a cap held across pollers, fair
 * turns under contention, and leases given back when a poller no longer needs them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useRedis } from '../support/redis.js';
import { eventually } from '../support/stack.js';
import { Leases } from '../../lib/poller/leases.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { registerScripts } from '../../lib/redis/scripts.js';
import { createLogger } from '../../lib/log.js';

const t = useRedis();
const k = makeKeys();
const opened: Redis[] = [];
const made: Leases[] = [];
afterEach(async () => {
  for (const l of made.splice(0)) await l.close();
  for (const r of opened.splice(0)) r.disconnect();
});

function leases(identity: string, cap = 4, refreshMs = 1000, url = t.url): Leases {
  const redis = registerScripts(new Redis(url));
  const subscriber = new Redis(url);
  redis.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  opened.push(redis, subscriber);
  const l = new Leases({ redis, subscriber, keys: k, identity, caps: new Map([['Job', cap]]), onChange: () => undefined, log: createLogger({ sink: () => undefined }), refreshMs });
  made.push(l);
  return l;
}

/** Takes every free lease; returns how many. */
function takeAll(l: Leases): number {
  let n = 0;
  while (l.take('Job')) n++;
  return n;
}

describe('leases', () => {
  it('never grants more than the cap across pollers', async () => {
    // Prepare
    const a = leases('a:1:x');
    const b = leases('b:1:x');
    await Promise.all([a.ready, b.ready]);
    // Act: both want the whole cap
    a.want('Job', 4);
    b.want('Job', 4);
    await eventually(async () => a.free('Job') + b.free('Job') === 4, 5000, 'the cap handed out');
    // Assess
    const held = Object.entries(await t.redis.hgetall(k.leases('Job'))).filter(([f]) => f.startsWith('h|'));
    expect(held.reduce((n, [, v]) => n + Number(v), 0)).toBe(4);
  });

  it('gives idle leases back when the poller closes, so another gets them at once', async () => {
    // Prepare: a holds the whole cap, using one
    const a = leases('a:1:x');
    await a.ready;
    a.want('Job', 4);
    await eventually(() => a.free('Job') === 4, 5000, 'a to hold the cap');
    expect(a.take('Job')).toBe(true);
    // Act
    await a.close();
    // Assess: only the one in use stays held; b gets the other three without waiting
    expect(await t.redis.hget(k.leases('Job'), 'h|a:1:x')).toBe('1');
    const b = leases('b:1:x');
    await b.ready;
    b.want('Job', 4);
    await eventually(() => b.free('Job') === 3, 5000, 'b to get the three idle leases');
  });

  it('gives idle leases back on its periodic tidy while nobody asks', async () => {
    // Prepare: a took the cap for a burst, then wants less
    const a = leases('a:1:x', 4, 100);
    await a.ready;
    a.want('Job', 4);
    await eventually(() => a.free('Job') === 4, 5000, 'a to hold the cap');
    // Act
    a.want('Job', 1);
    // Assess
    await eventually(async () => (await t.redis.hget(k.leases('Job'), 'h|a:1:x')) === '1', 5000, 'the idle leases given back');
  });

  it('passes freed leases round in turn under contention, keeping each poller its share', async () => {
    // Prepare: a holds the cap of 4 and runs 4; b wants 4
    const a = leases('a:1:x');
    const b = leases('b:1:x');
    await Promise.all([a.ready, b.ready]);
    a.want('Job', 4);
    await eventually(() => a.free('Job') === 4, 5000, 'a to hold the cap');
    expect(takeAll(a)).toBe(4);
    b.want('Job', 4);
    // Act: a's invocations end one by one, and it still has work
    for (let i = 0; i < 4; i++) {
      a.give('Job');
      a.want('Job', 4);
      await new Promise((r) => setTimeout(r, 100));
      takeAll(a);
      takeAll(b);
    }
    // Assess: each holds its share (4 divided between 2)
    await eventually(async () => (await t.redis.hget(k.leases('Job'), 'h|b:1:x')) === '2', 5000, "b's share");
    expect(await t.redis.hget(k.leases('Job'), 'h|a:1:x')).toBe('2');
  });

  it('still shares the cap for a Redis user without channel access (no announcements at all)', async () => {
    // Prepare: an ACL user that may run every command on every key but reach no channel (Redis 7's
    // default for new users), so PUBLISH is refused inside the script and SUBSCRIBE fails
    await t.redis.call('ACL', 'SETUSER', 'nochannels', 'reset', 'on', '>pw', '~*', 'resetchannels', '+@all');
    try {
      const u = new URL(t.url);
      u.username = 'nochannels';
      u.password = 'pw';
      const a = leases('a:1:x', 2, 200, u.toString());
      const b = leases('b:1:x', 2, 200, u.toString());
      await Promise.all([a.ready, b.ready]);
      // a is busy: holds and runs the whole cap and keeps wanting it
      a.want('Job', 2);
      await eventually(() => a.free('Job') === 2, 5000, 'a to hold the cap');
      expect(takeAll(a)).toBe(2);
      b.want('Job', 1);
      // Act: a's invocations keep ending and starting again, as a busy poller's do
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && b.free('Job') === 0) {
        a.give('Job');
        a.want('Job', 2);
        await new Promise((r) => setTimeout(r, 20));
        takeAll(a);
      }
      // Assess: b got its turn, and the cap still held
      expect(b.free('Job')).toBe(1);
      const held = Object.entries(await t.redis.hgetall(k.leases('Job'))).filter(([f]) => f.startsWith('h|'));
      expect(held.reduce((n, [, v]) => n + Number(v), 0)).toBeLessThanOrEqual(2);
    } finally {
      for (const l of made.splice(0)) await l.close();
      await t.redis.call('ACL', 'DELUSER', 'nochannels');
    }
  });
});
