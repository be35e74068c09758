import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DiscardJob,
  InvalidEventError,
  KillJob,
  MAX_ERROR_MESSAGE,
  RetryJobIn,
  discard,
  jobHandler,
  kill,
  retryIn,
  use,
  defineJob,
  withinResponseLimit,
  type JobContext,
} from '../../lib/handler.js';
import { makeEvent, type InvocationEvent } from '../../lib/protocol/event.js';
import { buildPayload, fakeLambdaContext, runJob, runJobs } from '../../lib/testing.js';
import { fixture } from './protocol/fixtures.js';

/** A handler that records what it was given. */
function recorder(): { seen: { args: unknown; job: JobContext }[]; handler: ReturnType<typeof jobHandler> } {
  const seen: { args: unknown; job: JobContext }[] = [];
  return { seen, handler: jobHandler((args, job) => void seen.push({ args, job })) };
}

const makeJob = (over: Record<string, unknown> = {}) => ({ class: 'HardJob', args: [1], ...over });

const removers: (() => void)[] = [];
afterEach(() => {
  while (removers.length) removers.pop()!();
});

describe('handler', () => {
  describe('arguments', () => {
    it('passes a plain job its args exactly: big integers as BigInt, floats, Unicode (Sidekiq 6.4.1 payload)', async () => {
      // Prepare
      const { seen, handler } = recorder();
      const raw = fixture('6.4.1', 'immediate').raw;

      // Act
      const out = await runJob(handler, raw);

      // Assess
      expect(out.status).toBe('ok');
      expect(seen[0]!.args).toEqual([1, 'two', { k: 3.5 }, 12345678901234567890n, 1, 1e20, 1e-7, 'é😀\u2028']);
    });

    it('unwraps a real Rails 6.1 ActiveJob payload and decodes its arguments', async () => {
      // Prepare
      const { seen, handler } = recorder();

      // Act
      const out = await runJob(handler, fixture('6.4.1', 'activejob').raw);

      // Assess
      expect(out.status).toBe('ok');
      const { args, job } = seen[0]!;
      expect((args as unknown[]).slice(0, 13)).toEqual([1, 's', 2.5, null, true, 2n ** 70n, { str: 1, sym: 'val' }, { a: 1 }, [1, [2]], 'a_symbol', 'gid://app/User/42', '1.5', 'String']);
      expect((args as unknown[])[13]).toMatchObject({ kwarg: 3, when: new Date('2024-01-02T03:04:05.123Z'), d: '2024-01-02', dur: 300 });
      expect(job.class).toBe('MyJob');
      expect(job.sidekiqClass).toBe('ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper');
      expect(job.activeJob?.data.job_id).toBe('bc9d767a-2d55-4408-a96d-e6db840077bc');
      expect(job.queue).toBe('mailers');
    });

    it('unwraps the Sidekiq 8 wrapper class', async () => {
      const { seen, handler } = recorder();
      await runJob(handler, fixture('8.1.7', 'activejob').raw);
      expect(seen[0]!.job.class).toBe('MyJob');
      expect(seen[0]!.job.sidekiqClass).toBe('Sidekiq::ActiveJob::Wrapper');
    });

    it('unwraps an ActiveJob built by runJob({ activeJob: true })', async () => {
      const { seen, handler } = recorder();
      await runJob(handler, { class: 'WelcomeJob', queue: 'mailers', activeJob: true, args: [42, { plan: 'pro' }] });
      expect(seen[0]!.args).toEqual([42, { plan: 'pro' }]);
      expect(seen[0]!.job.class).toBe('WelcomeJob');
    });
  });

  describe('context', () => {
    it('carries jid, queue, retry count, times and the raw payload of a float-seconds payload', async () => {
      // Prepare
      const { seen, handler } = recorder();
      const raw = fixture('6.4.1', 'retry').raw;

      // Act
      await runJob(handler, raw, { queue: 'default' });

      // Assess
      const { job } = seen[0]!;
      expect(job.jid).toBe('13e3862c6bc0c10228e8bad0');
      expect(job.class).toBe('HardWorker');
      expect(job.queue).toBe('default');
      expect(job.retryCount).toBe(0);
      expect(job.createdAt?.getTime()).toBe(Math.round(1795337503.5270138 * 1000));
      expect(job.enqueuedAt?.getTime()).toBe(Math.round(1795337503.527129 * 1000));
      expect(job.payload).toBe(raw);
      expect(job.job.error_message).toBe('boom: 💥');
    });

    it('reads Sidekiq 8 integer-millisecond times', async () => {
      const { seen, handler } = recorder();
      await runJob(handler, fixture('8.1.7', 'retry-again').raw);
      expect(seen[0]!.job.createdAt?.toISOString()).toBe(new Date(1767225600123).toISOString());
      expect(seen[0]!.job.retryCount).toBe(1);
    });

    it('has no retry count on a first run', async () => {
      const { seen, handler } = recorder();
      await runJob(handler, makeJob());
      expect(seen[0]!.job.retryCount).toBeUndefined();
    });

    it('counts down the remaining time from the Lambda deadline', async () => {
      const { seen, handler } = recorder();
      await runJob(handler, makeJob(), { timeoutMs: 5000 });
      const left = seen[0]!.job.remainingTimeMs();
      expect(left).toBeGreaterThan(4000);
      expect(left).toBeLessThanOrEqual(5000);
    });

    it('sends what a job enqueues back with its success, and drops it when the job fails', async () => {
      // Prepare: a handler that enqueues three ways, then fails when asked to
      const Reply = defineJob<[n: number]>('ReplyJob', { queue: 'replies' });
      const handler = jobHandler<[fail: boolean]>(async ([fail], job) => {
        await job.client.push({ class: 'PlainJob', queue: 'plain', args: [1] });
        await Reply.performIn(60, 2); // no client given: the job's own
        await Reply.set({ client: job.client }).performAsync(3);
        if (fail) throw new Error('after enqueueing');
      });

      // Act
      const ok = await runJob(handler, makeJob({ args: [false] }));
      const failed = await runJob(handler, makeJob({ args: [true] }));

      // Assess
      expect(ok.status).toBe('ok');
      expect(ok.enqueuedJobs).toMatchObject([
        { class: 'PlainJob', queue: 'plain', args: [1] },
        { class: 'ReplyJob', queue: 'replies', args: [2], at: expect.any(Number) },
        { class: 'ReplyJob', queue: 'replies', args: [3] },
      ]);
      expect(failed.status).toBe('failed');
      expect(failed.enqueuedJobs).toEqual([]);
      expect(failed).not.toHaveProperty('enqueued');
    });

    it('refuses, loudly, an enqueue the job did not await before it finished (it could never be written)', async () => {
      // Prepare: a job that enqueues one job properly and one after it has returned
      let late: Promise<unknown> | undefined;
      const handler = jobHandler(async (_args, job) => {
        await job.client.performAsync('OnTimeJob');
        setTimeout(() => (late = job.client.performAsync('LateJob').catch((e: unknown) => e)), 5);
      });

      // Act
      const ok = await runJob(handler, makeJob());
      await new Promise((r) => setTimeout(r, 20));

      // Assess: the on-time job travels in the answer; the late one is refused naming the job
      expect(ok.enqueuedJobs.map((j) => j.class)).toEqual(['OnTimeJob']);
      expect(String(await late)).toMatch(/job [0-9a-f]{24} had already finished when it enqueued 1 more job\(s\); they were not enqueued\. Await every enqueue/);
    });

    it("fails a job whose enqueues would not fit in Lambda's response, saying what to do", () => {
      // Prepare: two jobs that each enqueued 4 MiB
      const big = [{ queue: 'q', payload: `{"class":"X","args":["${'x'.repeat(4 * 1024 * 1024)}"],"jid":"j","queue":"q"}` }];
      // Act
      const out = withinResponseLimit([
        { jid: 'a', status: 'ok', enqueued: big },
        { jid: 'b', status: 'ok', enqueued: big },
      ]);
      // Assess: the first fits, the second fails with its enqueues dropped
      expect(out[0]).toMatchObject({ jid: 'a', status: 'ok' });
      expect(out[1]).toMatchObject({ jid: 'b', status: 'failed', error: { class: 'SidekiqLambda::ResponseTooLarge', message: expect.stringContaining('enqueued 1 job(s)') } });
      expect(out[1]).not.toHaveProperty('enqueued');
    });

    it('logs JSON lines stamped with jid, class and queue, BigInt exact', async () => {
      // Prepare
      const handler = jobHandler((_a, job) => job.logger.info('hello', { big: 12345678901234567890n }));

      // Act
      const out = await runJob(handler, makeJob({ jid: '0123456789abcdef01234567', queue: 'low' }));

      // Assess
      const hello = out.logs.find((l) => l.msg === 'hello')!;
      expect(hello).toMatchObject({ level: 'info', jid: '0123456789abcdef01234567', class: 'HardJob', queue: 'low' });
      expect(hello.big).toBe(12345678901234567000); // exact in the line; JSON.parse in the test rounds it
      expect(out.logs.find((l) => l.msg === 'done')).toMatchObject({ jid: '0123456789abcdef01234567' });
    });
    it('filters by LOG_LEVEL, read when the handler is made, and fails loudly on a bad one', async () => {
      // Prepare
      const before = process.env.LOG_LEVEL;
      try {
        process.env.LOG_LEVEL = 'warn';
        const quiet = jobHandler((_a, job) => {
          job.logger.info('hidden');
          job.logger.warn('shown');
        });
        process.env.LOG_LEVEL = 'loud';

        // Act
        const out = await runJob(quiet, makeJob());

        // Assess
        expect(out.logs.map((l) => l.msg)).toEqual(['shown']);
        expect(() => jobHandler(() => undefined)).toThrow('LOG_LEVEL must be debug, info, warn or error, got "loud"');
      } finally {
        if (before === undefined) delete process.env.LOG_LEVEL;
        else process.env.LOG_LEVEL = before;
      }
    });
  });

  describe('outcomes', () => {
    it('returning is ok', async () => {
      const out = await runJob(jobHandler(async () => undefined), makeJob({ jid: 'aaaaaaaaaaaaaaaaaaaaaaaa' }));
      expect(out).toMatchObject({ jid: 'aaaaaaaaaaaaaaaaaaaaaaaa', status: 'ok' });
      expect('error' in out).toBe(false);
    });

    it('throwing is failed with the error name, message and stack lines', async () => {
      // Act
      const out = await runJob(
        jobHandler(() => {
          throw new TypeError('bad input');
        }),
        makeJob(),
      );

      // Assess
      if (out.status !== 'failed') throw new Error('expected a failure');
      expect(out.error.class).toBe('TypeError');
      expect(out.error.message).toBe('bad input');
      expect(out.error.backtrace.length).toBeGreaterThan(0);
      expect(out.error.backtrace.every((l) => l.startsWith('at '))).toBe(true);
      expect(out.error.backtrace[0]).toContain('handler.test.ts');
      expect(out.action).toBeUndefined();
      expect(out.retryInSeconds).toBeUndefined();
    });

    it('names an error by its class when name was not set, and by name when it was', async () => {
      class QuotaExceeded extends Error {}
      class Named extends Error {
        override name = 'Billing::Declined';
      }
      const classes = [];
      for (const e of [new QuotaExceeded('q'), new Named('n'), new Error('e')]) {
        const out = await runJob(jobHandler(() => Promise.reject(e)), makeJob());
        classes.push(out.status === 'failed' ? out.error.class : 'ok');
      }
      expect(classes).toEqual(['QuotaExceeded', 'Billing::Declined', 'Error']);
    });

    it('cuts the message to 10,000 characters and reports non-Error throws', async () => {
      const long = await runJob(jobHandler(() => Promise.reject(new Error('x'.repeat(20_000)))), makeJob());
      const thrownString = await runJob(
        jobHandler(() => {
          throw 'just a string'; // eslint-disable-line no-throw-literal
        }),
        makeJob(),
      );
      expect(long.status === 'failed' && long.error.message.length).toBe(MAX_ERROR_MESSAGE);
      expect(thrownString).toMatchObject({ status: 'failed', error: { class: 'Error', message: 'just a string', backtrace: [] } });
    });
  });

  describe('directives', () => {
    it.each([
      ['discard(err)', () => discard(new RangeError('gone')), { action: 'discard', error: { class: 'RangeError', message: 'gone' } }],
      ['kill(err)', () => kill(new TypeError('never')), { action: 'kill', error: { class: 'TypeError', message: 'never' } }],
      ['new KillJob()', () => new KillJob(), { action: 'kill', error: { class: 'KillJob', message: 'the handler killed the job' } }],
      ['new DiscardJob()', () => new DiscardJob(), { action: 'discard', error: { class: 'DiscardJob' } }],
      ['retryIn(30.2, err)', () => retryIn(30.2, new Error('busy')), { action: 'retry', retryInSeconds: 31, error: { class: 'Error', message: 'busy' } }],
      ['new RetryJobIn(0)', () => new RetryJobIn(0), { action: 'retry', retryInSeconds: 0, error: { class: 'RetryJobIn' } }],
    ])('%s sets the action', async (_name, make, expected) => {
      const out = await runJob(
        jobHandler(() => {
          throw make();
        }),
        makeJob(),
      );
      expect(out).toMatchObject({ status: 'failed', ...expected });
    });

    it('keeps the wrapped error’s backtrace', async () => {
      const inner = new Error('inner');
      const out = await runJob(jobHandler(() => Promise.reject(discard(inner))), makeJob());
      expect(out.status === 'failed' && out.error.backtrace[0]).toBe(inner.stack!.split('\n')[1]!.trim());
    });

    it('rejects a negative or non-finite delay', () => {
      expect(() => retryIn(-1)).toThrow('a retry delay must be a finite number of seconds ≥ 0, got -1');
      expect(() => retryIn(Number.NaN)).toThrow(RangeError);
    });
  });

  describe('retryIn option (sidekiq_retry_in)', () => {
    it('is called with the count this failure will have, the error and the job', async () => {
      // Prepare
      const calls: [number, unknown, string][] = [];
      const boom = new Error('boom');
      const handler = jobHandler(() => Promise.reject(boom), {
        retryIn: (count, error, job) => {
          calls.push([count, error, job.jid]);
          return count * 10;
        },
      });

      // Act
      const first = await runJob(handler, makeJob({ jid: 'bbbbbbbbbbbbbbbbbbbbbbbb' }));
      const third = await runJob(handler, makeJob({ retry_count: 1 }));

      // Assess
      expect(calls[0]).toEqual([0, boom, 'bbbbbbbbbbbbbbbbbbbbbbbb']);
      expect(calls[1]![0]).toBe(2);
      expect(first).toMatchObject({ action: 'retry', retryInSeconds: 0 });
      expect(third).toMatchObject({ action: 'retry', retryInSeconds: 20 });
    });

    it.each([
      ['kill', { action: 'kill' }],
      ['discard', { action: 'discard' }],
    ] as const)('answers %s', async (answer, expected) => {
      const out = await runJob(jobHandler(() => Promise.reject(new Error('x')), { retryIn: () => answer }), makeJob());
      expect(out).toMatchObject(expected);
    });

    it('falls back to the default delay on undefined or a throw (and logs the throw)', async () => {
      const none = await runJob(jobHandler(() => Promise.reject(new Error('x')), { retryIn: () => undefined }), makeJob());
      const broken = await runJob(
        jobHandler(() => Promise.reject(new Error('x')), {
          retryIn: () => {
            throw new Error('oops');
          },
        }),
        makeJob(),
      );
      expect(none.status === 'failed' && none.action).toBeUndefined();
      expect(broken.status === 'failed' && broken.action).toBeUndefined();
      expect(broken.logs.some((l) => l.level === 'error' && l.error === 'oops')).toBe(true);
    });

    it('is not consulted when the job threw a directive', async () => {
      let called = false;
      const out = await runJob(jobHandler(() => Promise.reject(kill()), { retryIn: () => ((called = true), 5) }), makeJob());
      expect(out).toMatchObject({ action: 'kill' });
      expect(called).toBe(false);
    });
  });

  describe('middleware', () => {
    it('runs global then local middleware around the job, in Sidekiq order', async () => {
      // Prepare
      const order: string[] = [];
      removers.push(
        use({ before: () => void order.push('g1 before'), after: () => void order.push('g1 after') }),
        use(async (_job, next) => {
          order.push('g2 in');
          await next();
          order.push('g2 out');
        }),
      );
      const handler = jobHandler(() => void order.push('job'), {
        middleware: [{ before: () => void order.push('local before'), after: () => void order.push('local after') }],
      });

      // Act
      await runJob(handler, makeJob());

      // Assess
      expect(order).toEqual(['g1 before', 'g2 in', 'local before', 'job', 'local after', 'g2 out', 'g1 after']);
    });

    it('calls onError innermost first, skips after, and the job still fails with its error', async () => {
      // Prepare
      const order: string[] = [];
      removers.push(
        use({ onError: (e) => void order.push(`outer ${(e as Error).message}`), after: () => void order.push('after') }),
        use({ onError: (e, job) => void order.push(`inner ${(e as Error).message} ${job.class}`) }),
      );

      // Act
      const out = await runJob(jobHandler(() => Promise.reject(new Error('bad'))), makeJob());

      // Assess
      expect(order).toEqual(['inner bad HardJob', 'outer bad']);
      expect(out).toMatchObject({ status: 'failed', error: { message: 'bad' } });
    });

    it('lets around-middleware set async context for the job (tenant context)', async () => {
      const tenant = new AsyncLocalStorage<string>();
      removers.push(use((job, next) => tenant.run(`tenant-${String(job.args[0])}`, next)));
      let seen: string | undefined;
      await runJob(jobHandler(() => void (seen = tenant.getStore())), makeJob({ args: [7] }));
      expect(seen).toBe('tenant-7');
    });

    it('lets middleware turn a failure into a directive', async () => {
      removers.push(
        use(async (_job, next) => {
          try {
            await next();
          } catch (e) {
            throw (e as Error).message.includes('404') ? discard(e) : e;
          }
        }),
      );
      const out = await runJob(jobHandler(() => Promise.reject(new Error('HTTP 404'))), makeJob());
      expect(out).toMatchObject({ action: 'discard', error: { message: 'HTTP 404' } });
    });

    it('stops applying once removed', async () => {
      let calls = 0;
      const remove = use({ before: () => void calls++ });
      await runJob(jobHandler(() => undefined), makeJob());
      remove();
      await runJob(jobHandler(() => undefined), makeJob());
      expect(calls).toBe(1);
    });
  });

  describe('batches', () => {
    it('gives each job its own outcome, in order', async () => {
      // Prepare
      const handler = jobHandler<[string]>(([what]) => {
        if (what === 'fail') throw new Error('failed on purpose');
        if (what === 'kill') throw kill(new Error('killed on purpose'));
      });

      // Act
      const { results, payloads } = await runJobs(handler, [makeJob({ args: ['ok'] }), makeJob({ args: ['fail'] }), makeJob({ args: ['kill'] }), makeJob({ args: ['ok'] })]);

      // Assess
      const jids = payloads.map((p) => (JSON.parse(p) as { jid: string }).jid);
      expect(results.map((r) => r.jid)).toEqual(jids);
      expect(results.map((r) => (r.status === 'ok' ? 'ok' : `${r.error.message}/${r.action ?? 'default'}`))).toEqual([
        'ok',
        'failed on purpose/default',
        'killed on purpose/kill',
        'ok',
      ]);
    });

    it.each([
      [undefined, 1],
      [3, 3],
    ])('runs with concurrency %s → at most %i jobs at once', async (concurrency, expected) => {
      // Prepare
      let running = 0;
      let peak = 0;
      const handler = jobHandler(
        async () => {
          peak = Math.max(peak, ++running);
          await new Promise((r) => setTimeout(r, 10));
          running--;
        },
        { concurrency },
      );

      // Act
      const { results } = await runJobs(handler, Array.from({ length: 6 }, () => makeJob()));

      // Assess
      expect(results.every((r) => r.status === 'ok')).toBe(true);
      expect(peak).toBe(expected);
    });
  });

  describe('events', () => {
    it.each([
      [null, 'event is not an object'],
      [{ jobs: [] }, 'event.sidekiqLambda must be 2'],
      [{ sidekiqLambda: 2, jobs: [{ payload: { class: 'X' }, queue: 'q' }] }, 'event.jobs[0].payload must be the job JSON as a string'],
    ])('rejects an invalid event %j with a message that says what is wrong', async (event, why) => {
      const handler = jobHandler(() => undefined);
      const call = handler(event as unknown as InvocationEvent, fakeLambdaContext());
      await expect(call).rejects.toThrow(InvalidEventError);
      await expect(call).rejects.toThrow(`sidekiq-lambda: invalid event: ${why}`);
    });

    it('kills a malformed payload with the reason, and still runs the rest of the batch', async () => {
      // Prepare
      let ran = 0;
      const handler = jobHandler(() => void ran++);
      const event = makeEvent([
        { payload: '{"class":"HardJob","jid":"cccccccccccccccccccccccc"}', queue: 'default' },
        { payload: 'not json', queue: 'default' },
        { payload: buildPayload(makeJob()), queue: 'default' },
      ]);

      // Act
      const res = await handler(JSON.parse(JSON.stringify(event)) as InvocationEvent, fakeLambdaContext());

      // Assess
      expect(res.results[0]).toMatchObject({ jid: 'cccccccccccccccccccccccc', status: 'failed', action: 'kill', error: { class: 'SidekiqLambda::MalformedJob', message: 'args: missing or not an array' } });
      expect(res.results[1]).toMatchObject({ jid: '', status: 'failed', action: 'kill', error: { class: 'SidekiqLambda::MalformedJob' } });
      expect(res.results[2]).toMatchObject({ status: 'ok' });
      expect(ran).toBe(1);
    });

    it('kills an ActiveJob envelope without a serialized job, naming the field', async () => {
      const raw = '{"class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"MyJob","queue":"q","args":[{"arguments":[]}],"jid":"dddddddddddddddddddddddd"}';
      const out = await runJob(jobHandler(() => undefined), raw);
      expect(out).toMatchObject({ status: 'failed', action: 'kill', error: { class: 'ActiveJobPayloadError', message: expect.stringContaining('args[0].job_class') } });
    });

    it('answers JSON that survives the trip back through Lambda, with big integers in and out', async () => {
      // Prepare: the event as the Lambda runtime hands it over — parsed from JSON.
      let got: unknown;
      const handler = jobHandler((args) => {
        got = args[0];
        throw new Error(`saw ${String(args[0])}`);
      });
      const event = JSON.parse(JSON.stringify(makeEvent([{ payload: '{"class":"HardJob","args":[9007199254740993],"jid":"eeeeeeeeeeeeeeeeeeeeeeee","queue":"q"}', queue: 'q' }])));

      // Act
      const res = await handler(event as InvocationEvent, fakeLambdaContext());
      const wire = JSON.parse(JSON.stringify(res)) as typeof res;

      // Assess
      expect(got).toBe(9007199254740993n);
      expect(wire).toEqual(res);
      expect(wire.results[0]).toMatchObject({ status: 'failed', error: { message: 'saw 9007199254740993' } });
    });
  });

  describe('testing helpers', () => {
    it('buildPayload writes Sidekiq key order, float-second times and exact big integers', () => {
      const raw = buildPayload({ class: 'HardJob', queue: 'low', jid: '0123456789abcdef01234567', args: [2n ** 64n, 1.5], tags: ['a'] }, 1795334852173);
      expect(raw).toBe(
        '{"retry":true,"queue":"low","tags":["a"],"class":"HardJob","args":[18446744073709551616,1.5],"jid":"0123456789abcdef01234567","created_at":1795334852.173,"enqueued_at":1795334852.173}',
      );
    });

    it('buildPayload rejects arguments Ruby cannot read back', () => {
      expect(() => buildPayload({ class: 'HardJob', args: [new Date(0)] })).toThrow('args[0]: Date objects are not JSON-native');
    });

    it('runJob refuses a handler that does not answer the poller contract', async () => {
      const notAJobHandler = (async () => ({ ok: true })) as unknown as ReturnType<typeof jobHandler>;
      await expect(runJob(notAJobHandler, makeJob())).rejects.toThrow('is not a version-2 response with 1 results');
    });
  });
});
