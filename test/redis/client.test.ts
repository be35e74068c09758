/**
 * The producer against a real Redis (sidekiq-protocol.md §4): what `push`, `pushBulk`, `performIn`
 * and `performAt` write, key by key and byte by byte, and how the connection behaves when Redis
 * needs TLS, a password, an ACL user or a db index — or is not there at all.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client, type ClientOptions } from '../../lib/client.js';
import { freePort, useRedis } from '../support/redis.js';
import { tied } from '../support/tied.js';

const t = useRedis();

/** A whole second, so a float timestamp that lost its decimal point would show. */
const NOW = 1_795_334_852_000;
const JID = /^[0-9a-f]{24}$/;

const clients: Client[] = [];
function makeClient(opts: Partial<ClientOptions> = {}): Client {
  const c = new Client({ redis: t.url, now: () => NOW, ...opts });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Records every command Redis receives (MONITOR) while `act` runs. */
async function monitor(act: () => Promise<unknown>): Promise<string[][]> {
  const m = await t.redis.monitor();
  const seen: string[][] = [];
  m.on('monitor', (_time: string, args: string[]) => seen.push(args));
  // A marker tells us MONITOR is live before we act, and another that it has caught up after.
  await t.redis.echo('monitor-start');
  await until(() => seen.some((a) => a[1] === 'monitor-start'));
  await act();
  await t.redis.echo('monitor-end');
  await until(() => seen.some((a) => a[1] === 'monitor-end'));
  m.disconnect();
  const start = seen.findIndex((a) => a[1] === 'monitor-start');
  const end = seen.findIndex((a) => a[1] === 'monitor-end');
  // The producer's read of the routing table (at most once per 2 s, tested in test/redis/routing.test.ts) is left out:
  // these tests check what a push writes.
  const routingRead = (a: string[]): boolean => a[0]!.toLowerCase() === 'hgetall' && /sidekiq-lambda:(routes|declared)$/.test(a[1] ?? '');
  return seen.slice(start + 1, end).filter((a) => !['info', 'client', 'select', 'ping'].includes(a[0]!.toLowerCase()) && !routingRead(a));
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function commandCalls(name: string): Promise<number> {
  const info = await t.redis.info('commandstats');
  const m = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

async function onlyQueued(queue = 'default'): Promise<Record<string, unknown> & { raw: string }> {
  const list = await t.redis.lrange(`queue:${queue}`, 0, -1);
  expect(list).toHaveLength(1);
  return { ...(JSON.parse(list[0]!) as Record<string, unknown>), raw: list[0]! };
}

describe('Client', () => {
  describe('push', () => {
    it('sends SADD queues then LPUSH queue:<q> in one round trip, in Ruby key order with float-second timestamps', async () => {
      // Prepare
      const client = makeClient();
      // Act
      let jid = '';
      const cmds = await monitor(async () => {
        jid = await client.push({ class: 'HardWorker', queue: 'critical', args: [1, 'two', { k: 3.5 }] }) as string;
      });
      // Assess
      expect(jid).toMatch(JID);
      expect(cmds.map((c) => c.slice(0, 2))).toEqual([
        ['sadd', 'queues'],
        ['lpush', 'queue:critical'],
      ]);
      expect(cmds[0]).toEqual(['sadd', 'queues', 'critical']);
      expect(cmds[1]![2]).toBe(
        `{"retry":true,"queue":"critical","class":"HardWorker","args":[1,"two",{"k":3.5}],"jid":"${jid}","created_at":1795334852.0,"enqueued_at":1795334852.0}`,
      );
      expect(await t.redis.smembers('queues')).toEqual(['critical']);
    });

    it('passes retry, retry_queue, backtrace, dead, tags and custom keys through untouched', async () => {
      const client = makeClient();
      await client.push({
        class: 'HardWorker',
        args: [],
        retry: 3,
        retry_queue: 'low',
        backtrace: 10,
        dead: false,
        tags: ['alpha', 'beta'],
        lock_ttl: 60,
        bid: 'b-123',
        meta: { nested: [1, { deep: true }] },
      });
      const job = await onlyQueued();
      expect(job).toMatchObject({ retry: 3, retry_queue: 'low', backtrace: 10, dead: false, tags: ['alpha', 'beta'], lock_ttl: 60, bid: 'b-123' });
      expect(job.meta).toEqual({ nested: [1, { deep: true }] });
    });

    it('writes retry: 0 and retry: false as given (0 is truthy in Ruby: dead on first failure)', async () => {
      const client = makeClient();
      await client.push({ class: 'A', args: [], retry: 0, queue: 'zero' });
      await client.push({ class: 'A', args: [], retry: false, queue: 'never' });
      expect((await onlyQueued('zero')).raw).toContain('"retry":0,');
      expect((await onlyQueued('never')).raw).toContain('"retry":false,');
    });

    it('keeps a jid the caller supplies and returns it', async () => {
      const client = makeClient();
      const jid = await client.push({ class: 'A', args: [], jid: '0123456789abcdef01234567' });
      expect(jid).toBe('0123456789abcdef01234567');
      expect((await onlyQueued()).jid).toBe(jid);
    });

    it('returns a fresh 24-hex jid per job', async () => {
      const client = makeClient();
      const a = await client.push({ class: 'A', args: [] });
      const b = await client.push({ class: 'A', args: [] });
      expect(a).toMatch(JID);
      expect(b).toMatch(JID);
      expect(a).not.toBe(b);
    });

    it('with an explicit `at`, even a past one, ZADDs schedule with a float-second score and no `at` or enqueued_at in the payload', async () => {
      const client = makeClient();
      let jid = '';
      const cmds = await monitor(async () => {
        jid = await client.push({ class: 'A', args: [1], at: NOW / 1000 - 30 }) as string;
      });
      expect(cmds).toEqual([
        ['zadd', 'schedule', '1795334822.0', `{"retry":true,"queue":"default","class":"A","args":[1],"jid":"${jid}","created_at":1795334852.0}`],
      ]);
      expect(await t.redis.exists('queues', 'queue:default')).toBe(0);
    });

    it('always writes a decimal point in float timestamps and scores, whatever the fraction', async () => {
      for (const ms of [NOW, NOW + 1, NOW + 500, NOW + 123.456]) {
        await t.redis.flushdb();
        const client = makeClient({ now: () => ms });
        await client.push({ class: 'A', args: [] });
        await client.push({ class: 'A', args: [], at: ms / 1000 + 60 });
        const raw = (await onlyQueued()).raw;
        const created = /"created_at":([^,}]+)/.exec(raw)![1]!;
        expect(created).toMatch(/^\d+\.\d+$/);
        expect(Number(created) * 1000).toBeCloseTo(ms, 2);
        const [member, score] = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
        expect(member).toMatch(/"created_at":\d+\.\d+\}$/);
        expect(Number(score)).toBeCloseTo(ms / 1000 + 60, 3);
      }
    });

    it('with sidekiqVersion 8 writes integer-ms created_at and enqueued_at, but keeps the score in float seconds', async () => {
      const client = makeClient({ sidekiqVersion: 8, now: () => NOW + 123 });
      await client.push({ class: 'A', args: [] });
      const cmds = await monitor(() => client.push({ class: 'A', args: [], at: NOW / 1000 + 60 }));
      const raw = (await onlyQueued()).raw;
      expect(raw).toMatch(/"created_at":1795334852123,"enqueued_at":1795334852123\}$/);
      expect(cmds[0]![2]).toBe('1795334912.0');
      expect(cmds[0]![3]).toMatch(/"created_at":1795334852123\}$/);
    });

    it('with a namespace prefixes every key but not the members of `queues`', async () => {
      const client = makeClient({ namespace: 'myapp' });
      await client.push({ class: 'A', args: [], queue: 'mail' });
      await client.push({ class: 'A', args: [], at: NOW / 1000 + 60 });
      expect((await t.redis.keys('*')).sort()).toEqual(['myapp:queue:mail', 'myapp:queues', 'myapp:schedule']);
      expect(await t.redis.smembers('myapp:queues')).toEqual(['mail']);
    });

    describe('validation', () => {
      it.each([
        [{ class: 'A', args: [1, { when: new Date() }] }, 'args[1].when: Date objects are not JSON-native'],
        [{ class: 'A', args: [[1, undefined]] }, 'args[0][1]: undefined is not JSON-native'],
        [{ class: 'A', args: [NaN] }, 'args[0]: NaN is not JSON-native'],
        [{ class: 'A', args: [10n] }, 'args[0]: BigInt is not JSON-native'],
        [{ class: 'A', args: ['\ud800'] }, 'args[0]: contains a lone UTF-16 surrogate'],
        [{ class: 'A', args: [new Map()] }, 'args[0]: Map objects are not JSON-native'],
        [{ class: '', args: [] }, 'class: must be a non-empty string'],
        [{ class: 'A', args: [], queue: '' }, 'queue: must be a non-empty string'],
        [{ class: 'A', args: [], queue: 'a b' }, 'queue: "a b" may only contain'],
        [{ class: 'A', args: [], retry: -1 }, 'retry: must be true, false or a non-negative integer'],
        [{ class: 'A', args: [], tags: 'x' }, 'tags: must be an array of strings'],
        [{ class: 'Foo\ud800Job', args: [] }, 'class: contains a lone UTF-16 surrogate'],
        [{ class: 'A', args: [], tags: ['ok', 'a\ud800'] }, 'tags[1]: contains a lone UTF-16 surrogate'],
        [{ class: 'A', args: [], ['k\ud800']: 1 }, 'k\ud800: option key contains a lone UTF-16 surrogate'],
        [{ class: 'A', args: [], meta: { ['k\udc00']: 1 } }, 'meta.k\udc00: key contains a lone UTF-16 surrogate'],
        [{ class: 'A', args: [], jid: 'XYZ' }, 'jid: must be 24 lowercase hex characters'],
        [{ class: 'A', args: [], meta: { at: new Date() } }, 'meta.at: Date objects are not JSON-native'],
        [{ class: 'A', args: 'nope' }, 'args: must be an array'],
      ])('rejects %o naming the path, and writes nothing', async (item, message) => {
        const client = makeClient();
        await expect(client.push(item as never)).rejects.toThrow(message);
        expect(await t.redis.dbsize()).toBe(0);
      });
    });
  });

  describe('performAsync / performIn / performAt', () => {
    it('performAsync pushes to the default queue now', async () => {
      const client = makeClient();
      const jid = await client.performAsync('HardWorker', 'x', 2);
      expect(await onlyQueued()).toMatchObject({ class: 'HardWorker', args: ['x', 2], jid, queue: 'default', retry: true });
    });

    it('performIn(seconds) schedules at now + seconds', async () => {
      const client = makeClient();
      const jid = await client.performIn(90, 'HardWorker', 1);
      const [member, score] = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
      expect(score).toBe('1795334942');
      expect(JSON.parse(member!)).toEqual({ retry: true, queue: 'default', class: 'HardWorker', args: [1], jid, created_at: 1795334852 });
      expect(member).not.toContain('"at"');
    });

    it('performIn with a number ≥ 1e9 takes it as an epoch (Sidekiq rule)', async () => {
      const client = makeClient();
      await client.performIn(NOW / 1000 + 5, 'A');
      expect(await t.redis.zrange('schedule', 0, -1, 'WITHSCORES')).toEqual([expect.any(String), '1795334857']);
    });

    it('performAt takes epoch seconds or a Date', async () => {
      const client = makeClient();
      await client.performAt(NOW / 1000 + 10.25, 'A', 'epoch');
      await client.performAt(new Date(NOW + 20_500), 'A', 'date');
      const entries = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
      expect(entries.filter((_, i) => i % 2 === 1)).toEqual(['1795334862.25', '1795334872.5']);
    });

    it.each([
      ['performIn(0)', (c: Client) => c.performIn(0, 'A')],
      ['performIn(-5)', (c: Client) => c.performIn(-5, 'A')],
      ['performAt(past epoch)', (c: Client) => c.performAt(NOW / 1000 - 1, 'A')],
      ['performAt(now)', (c: Client) => c.performAt(NOW / 1000, 'A')],
      ['performAt(past Date)', (c: Client) => c.performAt(new Date(NOW - 60_000), 'A')],
    ])('%s pushes immediately (a time not in the future means now)', async (_name, act) => {
      const client = makeClient();
      const jid = await act(client);
      expect(await t.redis.zcard('schedule')).toBe(0);
      const job = await onlyQueued();
      expect(job.jid).toBe(jid);
      expect(job.raw).not.toContain('"at"');
      expect(job.raw).toMatch(/"enqueued_at":1795334852\.0\}$/);
    });
  });

  describe('pushBulk', () => {
    it('pushes each batch in one round trip: SADD + one LPUSH of all its payloads', async () => {
      // Prepare
      const client = makeClient();
      const args = Array.from({ length: 2500 }, (_, i) => [i, `job-${i}`]);
      let pipelines = 0;
      const pipeline = client.redis.pipeline.bind(client.redis);
      client.redis.pipeline = ((...a: Parameters<typeof pipeline>) => {
        pipelines++;
        return pipeline(...a);
      }) as typeof pipeline;
      await client.ready();
      const [sadd0, lpush0] = [await commandCalls('sadd'), await commandCalls('lpush')];
      // Act
      let jids: string[] = [];
      const cmds = await monitor(async () => {
        jids = await client.pushBulk({ class: 'BulkWorker', queue: 'bulk', args }) as string[];
      });
      // Assess: one read of the routing table (then cached), one round trip per batch
      expect(pipelines).toBe(4);
      expect((await commandCalls('sadd')) - sadd0).toBe(3);
      expect((await commandCalls('lpush')) - lpush0).toBe(3);
      expect(cmds.map((c) => [c[0], c[1], c.length - 2])).toEqual([
        ['sadd', 'queues', 1],
        ['lpush', 'queue:bulk', 1000],
        ['sadd', 'queues', 1],
        ['lpush', 'queue:bulk', 1000],
        ['sadd', 'queues', 1],
        ['lpush', 'queue:bulk', 500],
      ]);
      expect(jids).toHaveLength(2500);
      expect(new Set(jids).size).toBe(2500);
      for (const j of jids) expect(j).toMatch(JID);
      // LPUSH puts the first job at the tail, where BRPOP takes it first.
      const stored = (await t.redis.lrange('queue:bulk', 0, -1)).reverse().map((s) => JSON.parse(s) as { jid: string; args: unknown[]; created_at: number; enqueued_at: number });
      expect(stored.map((j) => j.jid)).toEqual(jids);
      expect(stored.map((j) => j.args)).toEqual(args);
      expect(new Set(stored.map((j) => j.created_at))).toEqual(new Set([1795334852]));
      expect(new Set(stored.map((j) => j.enqueued_at))).toEqual(new Set([1795334852]));
    });

    it('writes the same bytes as push for the same job, apart from the jid', async () => {
      const client = makeClient();
      const options = { class: 'A', queue: 'same', retry: 2, backtrace: true, tags: ['t'], custom: { k: [1, 'é\u2028'] } };
      const args = [1, 'two', { three: [3.5, null, true] }];
      const pushed = await client.push({ ...options, args }) as string;
      const [bulked] = await client.pushBulk({ ...options, args: [args] });
      const [second, first] = await t.redis.lrange('queue:same', 0, -1);
      expect(second!.replace(bulked!, 'JID')).toBe(first!.replace(pushed, 'JID'));
      expect(first).toBe(
        `{"retry":2,"queue":"same","backtrace":true,"tags":["t"],"custom":{"k":[1,"é\u2028"]},"class":"A","args":[1,"two",{"three":[3.5,null,true]}],"jid":"${pushed}","created_at":1795334852.0,"enqueued_at":1795334852.0}`,
      );
    });

    it('an empty list is a no-op, as in Sidekiq', async () => {
      const client = makeClient();
      expect(await client.pushBulk({ class: 'A', args: [] })).toEqual([]);
      expect(await t.redis.dbsize()).toBe(0);
    });

    it('honours batchSize', async () => {
      const client = makeClient();
      const cmds = await monitor(() => client.pushBulk({ class: 'A', args: [[1], [2], [3], [4], [5]], batchSize: 2 }));
      expect(cmds.filter((c) => c[0] === 'lpush').map((c) => c.length - 2)).toEqual([2, 2, 1]);
    });

    it('groups by queue: SADD lists the queue once, jobs go to queue:<q>, options apply to each job', async () => {
      const client = makeClient({ namespace: 'ns' });
      const cmds = await monitor(() => client.pushBulk({ class: 'A', queue: 'low', retry: 5, tags: ['t'], custom: 'x', args: [[1], [2]] }));
      expect(cmds.map((c) => c.slice(0, 3))).toEqual([
        ['sadd', 'ns:queues', 'low'],
        ['lpush', 'ns:queue:low', expect.any(String)],
      ]);
      for (const raw of await t.redis.lrange('ns:queue:low', 0, -1)) {
        expect(JSON.parse(raw)).toMatchObject({ queue: 'low', retry: 5, tags: ['t'], custom: 'x', class: 'A' });
      }
    });

    it('with one `at` ZADDs every job to schedule at that score, without `at`', async () => {
      const client = makeClient();
      const cmds = await monitor(() => client.pushBulk({ class: 'A', args: [[1], [2], [3]], at: NOW / 1000 + 60 }));
      expect(cmds.every((c) => c[0] === 'zadd' && c[1] === 'schedule' && c[2] === '1795334912.0')).toBe(true);
      const members = await t.redis.zrange('schedule', 0, -1);
      expect(members).toHaveLength(3);
      for (const m of members) expect(m).not.toMatch(/"at"|"enqueued_at"/);
    });

    it('with an `at` array gives each job its own score (epoch seconds or Dates)', async () => {
      const client = makeClient();
      const jids = await client.pushBulk({ class: 'A', args: [['a'], ['b'], ['c']], at: [NOW / 1000 + 30, new Date(NOW + 10_000), NOW / 1000 + 20.5] }) as string[];
      const entries = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
      const byJid = new Map<string, string>();
      for (let i = 0; i < entries.length; i += 2) byJid.set((JSON.parse(entries[i]!) as { jid: string }).jid, entries[i + 1]!);
      expect(jids.map((j) => byJid.get(j))).toEqual(['1795334882', '1795334862', '1795334872.5']);
    });

    it.each([
      [{ class: 'A', args: [[1], [2, new Date()]] }, 'args[1][1]: Date objects are not JSON-native'],
      [{ class: 'A', args: [[1], 'x'] }, 'args[1]: must be an array of arguments'],
      [{ class: 'A', args: [[1], [{ a: { b: undefined } }]] }, 'args[1][0].a.b: undefined is not JSON-native'],
      [{ class: 'A', args: [[1], [2]], at: [1] }, 'at: has 1 times for 2 jobs'],
      [{ class: 'A', args: [[1]], jid: '0123456789abcdef01234567' }, 'jid: cannot be given to pushBulk'],
      [{ class: 'A', args: [[1]], batchSize: 0 }, 'batchSize: must be a positive integer'],
      [{ class: 'A', args: 'x' }, 'args: must be an array of argument arrays'],
    ])('rejects %o naming the path, and writes nothing', async (item, message) => {
      const client = makeClient();
      await expect(client.pushBulk(item as never)).rejects.toThrow(message);
      expect(await t.redis.dbsize()).toBe(0);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Connection: TLS, AUTH, db index, and bounded failure.

interface Throwaway {
  port: number;
  child: ChildProcess;
}

/** A redis-server with extra flags (TLS, requirepass, ACL users), killed in afterAll. */
async function startServer(flags: (port: number) => string[], pingArgs: (port: number) => string[]): Promise<Throwaway> {
  const port = await freePort();
  const child = spawn(...tied('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...flags(port)]), { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const out = execFileSync('redis-cli', [...pingArgs(port), 'PING'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (out.includes('PONG')) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`redis-server ${flags(port).join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child };
}

describe('Client connection', () => {
  const servers: Throwaway[] = [];
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'skl-conn-'));
  });
  afterAll(() => {
    for (const s of servers) s.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks TLS with rediss:// (verifying the certificate against the CA it is given)', async () => {
    // Prepare: a CA, a server certificate for 127.0.0.1/localhost, and a TLS-only redis-server.
    const ssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt']);
    const tlsFlags = ['--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no'];
    const s = await startServer(
      (port) => ['--port', '0', '--tls-port', String(port), ...tlsFlags],
      (port) => ['-p', String(port), '--tls', '--cacert', join(dir, 'ca.crt')],
    );
    servers.push(s);
    // Act: a separate node process, so the CA can be trusted the way a Lambda would (NODE_EXTRA_CA_CERTS).
    const script = join(dir, 'push.mts');
    writeFileSync(
      script,
      `import { Client } from ${JSON.stringify(new URL('../../lib/client.ts', import.meta.url).pathname)};
      const c = new Client({ redis: process.argv[2] });
      try { console.log(await c.push({ class: 'TlsJob', args: ['secure'] })); } finally { await c.close(); }`,
    );
    const run = (env: NodeJS.ProcessEnv): { code: number | null; out: string; err: string } => {
      const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
      try {
        const out = execFileSync(tsx, [script, `rediss://localhost:${s.port}/2`], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
        return { code: 0, out, err: '' };
      } catch (e) {
        const x = e as { status: number | null; stdout: string; stderr: string };
        return { code: x.status, out: x.stdout, err: x.stderr };
      }
    };
    const trusted = run({ NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt') });
    const untrusted = run({ NODE_EXTRA_CA_CERTS: '' });
    // Assess: the job is in db 2 over TLS; without the CA the certificate is refused, bounded.
    expect(trusted.err).toBe('');
    expect(trusted.out.trim()).toMatch(JID);
    const r = new Redis({ port: s.port, host: 'localhost', db: 2, tls: { ca: execFileSync('cat', [join(dir, 'ca.crt')]) } });
    try {
      const [raw] = await r.lrange('queue:default', 0, -1);
      expect(JSON.parse(raw!)).toMatchObject({ class: 'TlsJob', args: ['secure'], jid: trusted.out.trim() });
    } finally {
      r.disconnect();
    }
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.err).toMatch(/rediss:\/\/localhost:\d+\/2.*(certificate|self.signed|issuer)/is);
  });

  it('authenticates with a password (requirepass) and selects the db index from the URL', async () => {
    const s = await startServer(
      (port) => ['--port', String(port), '--requirepass', 's3cret'],
      (port) => ['-p', String(port), '-a', 's3cret', '--no-auth-warning'],
    );
    servers.push(s);
    const client = new Client({ redis: `redis://:s3cret@127.0.0.1:${s.port}/5` });
    clients.push(client);
    const jid = await client.push({ class: 'AuthJob', args: [] });
    const r = new Redis({ port: s.port, password: 's3cret', db: 5 });
    try {
      expect(JSON.parse((await r.lindex('queue:default', 0))!)).toMatchObject({ jid });
      await r.select(0);
      expect(await r.dbsize()).toBe(0);
    } finally {
      r.disconnect();
    }
    const wrong = new Client({ redis: `redis://:nope@127.0.0.1:${s.port}/5` });
    clients.push(wrong);
    const started = Date.now();
    await expect(wrong.push({ class: 'AuthJob', args: [] })).rejects.toThrow(/WRONGPASS|invalid password|NOAUTH/i);
    expect(Date.now() - started).toBeLessThan(7000);
  });

  it('authenticates as an ACL user (username:password)', async () => {
    const s = await startServer(
      (port) => ['--port', String(port), '--user', 'default', 'off', '--user', 'producer', 'on', '>pw', '~*', '&*', '+@all'],
      (port) => ['-p', String(port), '--user', 'producer', '--pass', 'pw', '--no-auth-warning'],
    );
    servers.push(s);
    const client = new Client({ redis: `redis://producer:pw@127.0.0.1:${s.port}/1` });
    clients.push(client);
    const jid = await client.push({ class: 'AclJob', args: [] });
    const r = new Redis({ port: s.port, username: 'producer', password: 'pw', db: 1 });
    try {
      expect(JSON.parse((await r.lindex('queue:default', 0))!)).toMatchObject({ jid });
    } finally {
      r.disconnect();
    }
  });

  it('fails within a bounded time, naming the server, when nothing listens on the port', async () => {
    const port = await freePort();
    const client = new Client({ redis: `redis://127.0.0.1:${port}/0` });
    clients.push(client);
    const started = Date.now();
    await expect(client.push({ class: 'A', args: [] })).rejects.toThrow(new RegExp(`127\\.0\\.0\\.1:${port}`));
    expect(Date.now() - started).toBeLessThan(7000);
    const closing = Date.now();
    await client.close();
    expect(Date.now() - closing).toBeLessThan(2000);
  });

  describe('against a server that accepts connections but never answers', () => {
    let blackhole: Server;
    const sockets: Socket[] = [];
    let port = 0;
    beforeAll(async () => {
      blackhole = createServer((sock) => {
        sockets.push(sock);
        sock.on('error', () => undefined);
      });
      await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
      port = (blackhole.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackhole.close(r));
    });

    it('push rejects within a bounded time with an error naming the server, and close() does not hang', async () => {
      const client = new Client({ redis: `redis://127.0.0.1:${port}/0` });
      clients.push(client);
      const started = Date.now();
      await expect(client.push({ class: 'A', args: [] })).rejects.toThrow(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}.*unreachable`));
      expect(Date.now() - started).toBeLessThan(7000);
      expect(sockets.length).toBeGreaterThan(0);
      const closing = Date.now();
      await client.close();
      expect(Date.now() - closing).toBeLessThan(2000);
    });

    it('the same client recovers once the server answers', async () => {
      // Prepare: a proxy that swallows connections until it is switched to forward to real Redis.
      let forward = false;
      const target = new URL(t.url);
      const held: Socket[] = [];
      const proxy = createServer((sock) => {
        sock.on('error', () => undefined);
        if (!forward) return void held.push(sock);
        const up = createConnection(Number(target.port), target.hostname);
        up.on('error', () => sock.destroy());
        sock.pipe(up).pipe(sock);
        held.push(sock, up);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      const proxyPort = (proxy.address() as { port: number }).port;
      const client = new Client({ redis: `redis://127.0.0.1:${proxyPort}${target.pathname}` });
      clients.push(client);
      try {
        // Act + Assess
        await expect(client.push({ class: 'A', args: ['lost'] })).rejects.toThrow(/never answered/);
        forward = true;
        const jid = await client.push({ class: 'A', args: ['kept'] });
        expect(JSON.parse((await t.redis.lindex('queue:default', 0))!)).toMatchObject({ jid, args: ['kept'] });
        expect(await t.redis.llen('queue:default')).toBe(1);
      } finally {
        await client.close();
        for (const s of held) s.destroy();
        await new Promise((r) => proxy.close(r));
      }
    });

    it('pushBulk rejects the same way', async () => {
      const client = new Client({ redis: `redis://127.0.0.1:${port}/0` });
      clients.push(client);
      const started = Date.now();
      await expect(client.pushBulk({ class: 'A', args: [[1], [2]] })).rejects.toThrow(/unreachable/);
      expect(Date.now() - started).toBeLessThan(7000);
    });
  });
});
