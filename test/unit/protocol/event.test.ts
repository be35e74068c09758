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
