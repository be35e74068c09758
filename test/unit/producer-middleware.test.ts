/**
 * Producer middleware (Sidekiq's client middleware) on the in-memory producers: the chain's
 * registration rules and order, changing a job, stopping a push (`null`, as Sidekiq's nil), errors,
 * bulk and scheduled pushes, and every kind of producer — a handler's `job.client`, `defineJob`
 * inside a handler, `fakeClient()`. Redis: test/redis/producer-middleware.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../../lib/producer/collector.js';
import { producerMiddleware, useProducer, type OutgoingJob, type ProducerMiddleware } from '../../lib/producer/middleware.js';
import type { Producer } from '../../lib/producer/producer.js';
import { defineJob, jobHandler } from '../../lib/handler.js';
import { fakeClient, runJob } from '../../lib/testing.js';

const NOW = 1_795_334_852_000;
const JID = '0123456789abcdef01234567';

afterEach(() => {
  producerMiddleware.clear();
});

/** A middleware that records its name before and after the rest of the chain. */
function tracer(name: string, log: string[]): ProducerMiddleware {
  return async (_job, next) => {
    log.push(`${name}>`);
    const went = await next();
    log.push(`<${name}:${went}`);
  };
}

const parsed = (c: Collector) => c.enqueued.map((e) => ({ ...e, job: JSON.parse(e.payload) as Record<string, unknown> }));

describe('producer middleware', () => {
  describe('the chain', () => {
    it('runs the first registered outermost, as Sidekiq chains do', async () => {
      // Prepare
      const log: string[] = [];
      useProducer(tracer('a', log));
      useProducer(tracer('b', log));
      // Act
      await new Collector().performAsync('HardJob', 1);
      // Assess
      expect(log).toEqual(['a>', 'b>', '<b:true', '<a:true']);
    });

    it('add moves a middleware already there to the end; prepend, insertBefore and insertAfter place it', () => {
      // Prepare
      const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => Object.defineProperty(((_j, next) => next()) as ProducerMiddleware, 'name', { value: n }));
      const names = (): string[] => producerMiddleware.entries.map((m) => m.name);
      // Act + Assess
      producerMiddleware.add(a!).add(b!).add(c!);
      expect(names()).toEqual(['a', 'b', 'c']);
      producerMiddleware.add(a!);
      expect(names()).toEqual(['b', 'c', 'a']);
      producerMiddleware.prepend(a!);
      expect(names()).toEqual(['a', 'b', 'c']);
      producerMiddleware.insertBefore(c!, d!);
      expect(names()).toEqual(['a', 'b', 'd', 'c']);
      producerMiddleware.insertAfter(a!, d!);
      expect(names()).toEqual(['a', 'd', 'b', 'c']);
      producerMiddleware.remove(b!);
      expect([names(), producerMiddleware.has(b!), producerMiddleware.has(c!)]).toEqual([['a', 'd', 'c'], false, true]);
    });

    it('insertBefore an absent middleware puts it first, insertAfter one puts it last (Sidekiq\'s rule)', () => {
      // Prepare
      const [a, b, absent] = [1, 2, 3].map(() => ((_j, next) => next()) as ProducerMiddleware);
      producerMiddleware.add(a!);
      // Act
      producerMiddleware.insertBefore(absent!, b!);
      const before = [...producerMiddleware.entries];
      producerMiddleware.insertAfter(absent!, b!);
      // Assess
      expect(before).toEqual([b, a]);
      expect(producerMiddleware.entries).toEqual([a, b]);
    });

    it('refuses what is not a function, saying what a middleware is', () => {
      expect(() => producerMiddleware.add({} as never)).toThrow('producer middleware must be a function (job, next, producer) => …');
    });

    it('useProducer returns a function that removes it', async () => {
      // Prepare
      const remove = useProducer((job, next) => ((job.seen = true), next()));
      remove();
      const c = new Collector();
      // Act
      await c.performAsync('HardJob');
      // Assess
      expect(parsed(c)[0]!.job.seen).toBeUndefined();
    });
  });

  describe('what a middleware sees and changes', () => {
    it('sees the normalized job (class, args, queue, retry, jid) and the producer pushing it', async () => {
      // Prepare
      const seen: [OutgoingJob, Producer][] = [];
      useProducer((job, next, producer) => (seen.push([{ ...job }, producer]), next()));
      const c = new Collector();
      // Act
      const jid = await c.push({ class: 'HardJob', args: [1, 'two'], jid: JID, tags: ['t'] });
      // Assess
      expect(jid).toBe(JID);
      expect(seen).toEqual([[{ class: 'HardJob', args: [1, 'two'], queue: 'default', retry: true, jid: JID, tags: ['t'] }, c]]);
    });

    it('adds a custom key and changes options: the payload is rendered from the changed job', async () => {
      // Prepare
      useProducer((job, next) => {
        job.tenant_id = 'acme';
        job.queue = 'tenants';
        job.retry = 3;
        return next();
      });
      const c = new Collector({ now: () => NOW });
      // Act
      await c.push({ class: 'HardJob', args: [1], jid: JID });
      // Assess
      expect(c.enqueued).toEqual([
        { queue: 'tenants', payload: `{"retry":3,"queue":"tenants","tenant_id":"acme","class":"HardJob","args":[1],"jid":"${JID}","created_at":1795334852.0,"enqueued_at":1795334852.0}` },
      ]);
    });

    it('a middleware that changes nothing leaves the bytes exactly as without middleware', async () => {
      // Prepare
      const item = { class: 'HardJob', queue: 'critical', retry: 5, tags: ['a'], custom: { k: [1] }, args: [1, 'x'], jid: JID };
      const plain = new Collector({ now: () => NOW });
      await plain.push(item);
      await plain.push({ ...item, at: NOW / 1000 + 60 });
      useProducer((_job, next) => next());
      const chained = new Collector({ now: () => NOW });
      // Act
      await chained.push(item);
      await chained.push({ ...item, at: NOW / 1000 + 60 });
      // Assess
      expect(chained.enqueued).toEqual(plain.enqueued);
    });

    it('sees a scheduled push with `at` in epoch seconds, and can move or drop it', async () => {
      // Prepare
      const ats: unknown[] = [];
      useProducer((job, next) => {
        ats.push(job.at);
        if (job.args[0] === 'later') job.at = NOW / 1000 + 3600;
        if (job.args[0] === 'now') delete job.at;
        return next();
      });
      const c = new Collector({ now: () => NOW });
      // Act
      await c.performIn(60, 'A', 'kept');
      await c.performAt(new Date(NOW + 60_000), 'A', 'later');
      await c.performIn(60, 'A', 'now');
      // Assess
      expect(ats).toEqual([NOW / 1000 + 60, NOW / 1000 + 60, NOW / 1000 + 60]);
      expect(c.enqueued.map((e) => [e.queue, e.at])).toEqual([
        [undefined, NOW + 60_000],
        [undefined, NOW + 3_600_000],
        ['default', undefined],
      ]);
    });

    it('a change that breaks the job is refused as a push with it would be', async () => {
      // Prepare
      useProducer((job, next) => ((job.queue = 'no spaces'), next()));
      // Act + Assess
      await expect(new Collector().performAsync('A')).rejects.toThrow('queue');
    });
  });

  describe('stopping a push', () => {
    it('a middleware that does not call next() stops it: push resolves null and nothing is written', async () => {
      // Prepare
      const log: string[] = [];
      useProducer(tracer('outer', log));
      useProducer((job, next) => (job.args[0] === 'dup' ? undefined : next()));
      useProducer(tracer('inner', log));
      const c = new Collector();
      // Act
      const stopped = await c.performAsync('HardJob', 'dup');
      const pushed = await c.performAsync('HardJob', 'new');
      // Assess
      expect(stopped).toBeNull();
      expect(pushed).toMatch(/^[0-9a-f]{24}$/);
      expect(c.enqueued.map((e) => (JSON.parse(e.payload) as { jid: string }).jid)).toEqual([pushed]);
      expect(log).toEqual(['outer>', '<outer:false', 'outer>', 'inner>', '<inner:true', '<outer:true']);
    });

    it('returning false stops it too, even after next()', async () => {
      // Prepare
      useProducer(async (_job, next) => {
        await next();
        return false;
      });
      const c = new Collector();
      // Act + Assess
      expect(await c.push({ class: 'A', args: [], at: NOW / 1000 })).toBeNull();
      expect(c.enqueued).toEqual([]);
    });

    it('a middleware that throws rejects the push with its error and writes nothing', async () => {
      // Prepare
      useProducer(() => {
        throw new Error('tenant unknown');
      });
      const c = new Collector();
      // Act + Assess
      await expect(c.performAsync('A')).rejects.toThrow('tenant unknown');
      expect(c.enqueued).toEqual([]);
    });

    it('calling next() twice is an error that names it', async () => {
      // Prepare
      useProducer(async (_job, next) => {
        await next();
        await next();
      });
      // Act + Assess
      await expect(new Collector().performAsync('A')).rejects.toThrow('producer middleware called next() twice');
    });

    it('pushBulk runs each job through the chain: a stopped job has null in its place, the others are written', async () => {
      // Prepare
      const seen: string[] = [];
      useProducer((job, next) => {
        seen.push(job.jid);
        job.n = job.args[0];
        return (job.args[0] as number) % 2 === 0 ? false : next();
      });
      const c = new Collector({ now: () => NOW });
      // Act
      const jids = await c.pushBulk({ class: 'A', queue: 'bulk', args: [[1], [2], [3], [4], [5]], batchSize: 2 });
      // Assess
      expect(jids).toHaveLength(5);
      expect([jids[1], jids[3]]).toEqual([null, null]);
      expect(seen).toEqual(jids.map((j, i) => j ?? seen[i]));
      expect(parsed(c).map((e) => [e.queue, e.job.jid, e.job.n])).toEqual([
        ['bulk', jids[0], 1],
        ['bulk', jids[2], 3],
        ['bulk', jids[4], 5],
      ]);
    });

    it('pushBulk with scheduled times: each job keeps its own `at`', async () => {
      // Prepare
      useProducer((_job, next) => next());
      const c = new Collector({ now: () => NOW });
      // Act
      await c.pushBulk({ class: 'A', args: [['a'], ['b']], at: [NOW / 1000 + 30, new Date(NOW + 10_000)] });
      // Assess
      expect(c.enqueued.map((e) => e.at)).toEqual([NOW + 30_000, NOW + 10_000]);
    });
  });

  describe('every kind of producer', () => {
    it("a handler's job.client and defineJob inside a handler go through the chain", async () => {
      // Prepare
      useProducer((job, next) => ((job.request_id = 'r-1'), next()));
      const Reply = defineJob<[string]>('ReplyJob', { queue: 'replies' });
      const handler = jobHandler(async (_args, job) => {
        await job.client.performAsync('AuditJob', 'a');
        await Reply.performAsync('b');
      });
      // Act
      const out = await runJob(handler, { class: 'HardJob', args: [] });
      // Assess
      expect(out.status).toBe('ok');
      expect(out.enqueuedJobs.map((j) => [j.class, (JSON.parse(j.payload) as { request_id?: string }).request_id])).toEqual([
        ['AuditJob', 'r-1'],
        ['ReplyJob', 'r-1'],
      ]);
    });

    it('a job a middleware stops in a handler is not in its answer', async () => {
      // Prepare
      useProducer((job, next) => (job.class === 'Dropped' ? false : next()));
      const handler = jobHandler(async (_args, job) => {
        expect(await job.client.performAsync('Dropped')).toBeNull();
        await job.client.performAsync('Kept');
      });
      // Act
      const out = await runJob(handler, { class: 'HardJob', args: [] });
      // Assess
      expect(out.enqueuedJobs.map((j) => j.class)).toEqual(['Kept']);
    });

    it('fakeClient() goes through it', async () => {
      // Prepare
      useProducer((job, next) => ((job.tenant_id = 't'), next()));
      const client = fakeClient();
      // Act
      await client.performAsync('A', 1);
      // Assess
      expect(JSON.parse(client.jobs[0]!.payload)).toMatchObject({ class: 'A', tenant_id: 't' });
    });
  });
});
