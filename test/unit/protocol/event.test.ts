import { describe, expect, it } from 'vitest';
import { EVENT_VERSION, checkEvent, functionErrorResults, makeEvent, readResponse } from '../../../lib/protocol/event.js';

const JIDS = ['aaaaaaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbbbbbb'];

function makeResponse(results: unknown[]): unknown {
  return { sidekiqLambda: EVENT_VERSION, results };
}

function makeFailure(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { jid: 'x', status: 'failed', error: { class: 'TypeError', message: 'nope', backtrace: ['a.ts:1'] }, ...overrides };
}

describe('event', () => {
  describe('makeEvent / checkEvent', () => {
    it('accepts an event it made', () => {
      expect(checkEvent(makeEvent([{ payload: '{"class":"C","args":[]}', queue: 'q' }]))).toBeUndefined();
    });

    it('names what is wrong with a foreign event', () => {
      expect(checkEvent(null)).toBe('event is not an object');
      expect(checkEvent({ sidekiqLambda: 1, jobs: [] })).toBe('event.sidekiqLambda must be 2 (this handler speaks version 2; got 1): deploy the poller and the job functions from the same sidekiq-lambda release');
      expect(checkEvent({ sidekiqLambda: 2, jobs: [{ payload: {}, queue: 'q' }] })).toBe('event.jobs[0].payload must be the job JSON as a string');
      expect(checkEvent({ sidekiqLambda: 2, jobs: [{ payload: '{}' }] })).toBe('event.jobs[0].queue must be a string');
    });
  });

  describe('readResponse', () => {
    it('maps results to the jids in order, taking the jid from the poller', () => {
      // Act
      const results = readResponse(makeResponse([{ jid: 'ignored', status: 'ok' }, makeFailure({ action: 'retry', retryInSeconds: 30 })]), JIDS);

      // Assess
      expect(results).toEqual([
        { jid: JIDS[0], status: 'ok' },
        { jid: JIDS[1], status: 'failed', error: { class: 'TypeError', message: 'nope', backtrace: ['a.ts:1'] }, action: 'retry', retryInSeconds: 30 },
      ]);
    });

    it('fails every job when the response is not an object', () => {
      // Act
      const results = readResponse('ok', JIDS);

      // Assess
      expect(results).toHaveLength(2);
      expect(results.every((r) => r.status === 'failed' && r.error.class === 'SidekiqLambda::BadResponse')).toBe(true);
      expect(results[0]).toMatchObject({ error: { message: "the function's response is not an object; was it written with jobHandler()?" } });
    });

    it('fails every job when the version or results are missing', () => {
      expect(readResponse({ results: [] }, JIDS)[1]).toMatchObject({
        jid: JIDS[1],
        error: { message: "the function's response lacks sidekiqLambda: 2 and results; was it written with jobHandler()?" },
      });
    });

    it('fails every job when the result count differs', () => {
      expect(readResponse(makeResponse([{ status: 'ok' }]), JIDS)[0]).toMatchObject({ error: { message: expect.stringContaining('has 1 results for 2 jobs') } });
    });

    it.each([
      ['an unknown status', { status: 'maybe' }],
      ['a failure without an error class', makeFailure({ error: { message: 'x' } })],
      ['a failure without a message', makeFailure({ error: { class: 'E' } })],
      ['an unknown action', makeFailure({ action: 'explode' })],
      ['a negative delay', makeFailure({ retryInSeconds: -5 })],
      ['a non-numeric delay', makeFailure({ retryInSeconds: '30' })],
    ])('fails only the job whose result has %s', (_what, bad) => {
      // Act
      const results = readResponse(makeResponse([{ status: 'ok' }, bad]), JIDS);

      // Assess
      expect(results[0]).toEqual({ jid: JIDS[0], status: 'ok' });
      expect(results[1]).toMatchObject({ jid: JIDS[1], status: 'failed', error: { class: 'SidekiqLambda::BadResponse', message: expect.stringContaining('result 1 is malformed') } });
    });

    const job = (over: Record<string, unknown> = {}) => JSON.stringify({ retry: true, queue: 'q', class: 'ReplyJob', args: [1], jid: 'cccccccccccccccccccccccc', ...over });
    it.each([
      ['not an array', { queue: 'q', payload: job() }, ' must be an array'],
      ['a payload that is not JSON', [{ queue: 'q', payload: '{' }], '[0].payload is not JSON'],
      ['a payload without args', [{ queue: 'q', payload: job({ args: undefined }) }], '[0].payload has no args array'],
      ['a payload naming another queue', [{ queue: 'q', payload: job() }, { queue: 'other', payload: job() }], '[1].payload names queue "q" but is pushed to "other"'],
      ['a lone surrogate', [{ queue: 'q', payload: job({ args: ['\ud800'] }) }], "[0].payload holds a lone UTF-16 surrogate at args[0], which Ruby's JSON parser rejects"],
      ['both a queue and a time', [{ queue: 'q', at: 1, payload: job() }], '[0] must have a queue name or an `at` time (epoch ms), not both'],
    ])('fails (retry path) a job whose enqueues have %s, writing none of them', (_what, enqueued, problem) => {
      // Act
      const results = readResponse(makeResponse([{ status: 'ok', enqueued: [{ queue: 'q', payload: job() }] }, { status: 'ok', enqueued }]), JIDS);

      // Assess
      expect(results[0]).toMatchObject({ status: 'ok', enqueued: [{ queue: 'q' }] });
      expect(results[1]).toEqual({
        jid: JIDS[1],
        status: 'failed',
        error: { class: 'SidekiqLambda::BadEnqueue', message: `results[1].enqueued${problem}; nothing it enqueued was written`, backtrace: [] },
      });
    });

    it('normalises a missing backtrace to an empty list', () => {
      expect(readResponse(makeResponse([makeFailure({ error: { class: 'E', message: 'm' } })]), [JIDS[0]!])[0]).toEqual({
        jid: JIDS[0],
        status: 'failed',
        error: { class: 'E', message: 'm', backtrace: [] },
      });
    });
  });

  describe('functionErrorResults', () => {
    it("fails every job with Lambda's error", () => {
      // Act
      const results = functionErrorResults({ errorType: 'Runtime.ImportModuleError', errorMessage: 'no module', trace: ['x', 'y'] }, JIDS);

      // Assess
      expect(results).toEqual(
        JIDS.map((jid) => ({ jid, status: 'failed', error: { class: 'Runtime.ImportModuleError', message: 'no module', backtrace: ['x', 'y'] } })),
      );
    });

    it('falls back to a class and message when Lambda gave none', () => {
      expect(functionErrorResults({}, [JIDS[0]!], 'Lambda::Timeout')[0]).toEqual({
        jid: JIDS[0],
        status: 'failed',
        error: { class: 'Lambda::Timeout', message: 'the function failed without a message', backtrace: [] },
      });
    });
  });
});
