import { describe, expect, it } from 'vitest';
import {
  AJ_WRAPPER_RAILS,
  AJ_WRAPPER_SIDEKIQ8,
  ActiveJobPayloadError,
  activeJobGlobalId,
  activeJobKeywords,
  activeJobSymbol,
  activeJobWrapperClass,
  decodeArguments,
  encodeArguments,
  isActiveJobWrapper,
  unwrapActiveJob,
  wrapActiveJob,
} from '../../../lib/protocol/activejob.js';
import type { JobPayload } from '../../../lib/protocol/job.js';
import { parseLossless } from '../../../lib/protocol/json.js';
import { JobValidationError } from '../../../lib/protocol/validate.js';
import { fixture, type FixtureVersion } from './fixtures.js';

const S = 'ActiveJob::Serializers::';

function makeJob(overrides: Partial<JobPayload> = {}): JobPayload {
  return {
    class: AJ_WRAPPER_RAILS,
    wrapped: 'MyJob',
    queue: 'default',
    jid: '6cb5902100bdc6bb63743e09',
    args: [{ job_class: 'MyJob', job_id: 'u', arguments: [1] }],
    ...overrides,
  };
}

function loadFixture(version: FixtureVersion, kind: string): JobPayload {
  return parseLossless(fixture(version, kind).raw) as JobPayload;
}

describe('activejob', () => {
  describe('isActiveJobWrapper', () => {
    it('knows both wrapper classes', () => {
      expect([AJ_WRAPPER_RAILS, AJ_WRAPPER_SIDEKIQ8, 'HardJob'].map(isActiveJobWrapper)).toEqual([true, true, false]);
    });
  });

  describe('activeJobWrapperClass', () => {
    it("writes Rails' wrapper for Sidekiq 6 and 7, Sidekiq's own for 8", () => {
      expect([6, 7, 8].map((v) => activeJobWrapperClass(v as 6 | 7 | 8))).toEqual([AJ_WRAPPER_RAILS, AJ_WRAPPER_RAILS, AJ_WRAPPER_SIDEKIQ8]);
    });
  });

  describe('unwrapActiveJob', () => {
    it('decodes every argument of the real Rails 6.1 / Sidekiq 6.4.1 payload', () => {
      // Act
      const aj = unwrapActiveJob(loadFixture('6.4.1', 'activejob'))!;

      // Assess
      expect(aj.jobClass).toBe('MyJob');
      expect(aj.data).toMatchObject({ job_class: 'MyJob', queue_name: 'mailers', provider_job_id: null, executions: 0, locale: 'en', timezone: 'UTC' });
      expect(aj.arguments).toEqual([
        1,
        's',
        2.5,
        null,
        true,
        2n ** 70n,
        { str: 1, sym: 'val' },
        { a: 1 },
        [1, [2]],
        'a_symbol',
        'gid://app/User/42',
        '1.5',
        'String',
        {
          kwarg: 3,
          when: new Date('2024-01-02T03:04:05.123Z'),
          dt: new Date('2024-01-02T01:04:05Z'),
          zoned: new Date('2024-01-02T03:04:05Z'),
          d: '2024-01-02',
          dur: 300,
          user: 'gid://app/User/7',
        },
      ]);
    });

    it('decodes every argument of the real ActiveJob 7.2 / Sidekiq 7.3.10 payload (Sidekiq\'s own adapter)', () => {
      // Act
      const job = loadFixture('7.3.10', 'activejob');
      const aj = unwrapActiveJob(job)!;

      // Assess
      expect(job.class).toBe(AJ_WRAPPER_RAILS);
      expect(aj.data).toMatchObject({ job_class: 'MyJob', queue_name: 'mailers', provider_job_id: null, executions: 0, scheduled_at: null });
      expect(aj.arguments).toEqual([
        1, 's', 2.5, null, true, 2n ** 70n, { str: 1, sym: 'val' }, { a: 1 }, [1, [2]], 'a_symbol', 'gid://app/User/42', '1.5',
        { begin: 1, end: 10, excludeEnd: true },
        'String',
        {
          kwarg: 3,
          when: new Date('2024-01-02T03:04:05.123Z'),
          dt: new Date('2024-01-02T01:04:05Z'),
          zoned: new Date('2024-01-02T03:04:05Z'),
          d: '2024-01-02',
          dur: 300,
          user: 'gid://app/User/7',
        },
      ]);
    });

    it('decodes the real scheduled ActiveJob payload (keyword Symbol)', () => {
      expect(unwrapActiveJob(loadFixture('6.4.1', 'activejob-scheduled'))!.arguments).toEqual(['later', { when: 'soon' }]);
    });

    it.each(['7.3.9', '8.1.7'] as const)('decodes the %s payload, with Range, BigDecimalSerializer and a zoned time', (v) => {
      // Act
      const aj = unwrapActiveJob(loadFixture(v, 'activejob'))!;

      // Assess
      expect(aj.data.scheduled_at).toBeNull();
      expect(aj.arguments.slice(8, 11)).toEqual(['1.5', { begin: 1, end: 10, excludeEnd: true }, 'String']);
      expect(aj.arguments[11]).toMatchObject({ zoned: new Date('2024-01-02T03:04:05Z'), dur: 300 });
    });

    it('reads the Sidekiq 8 wrapper class', () => {
      // Prepare
      const job = loadFixture('8.1.7', 'activejob-scheduled');

      // Act
      const aj = unwrapActiveJob(job)!;

      // Assess
      expect(job.class).toBe(AJ_WRAPPER_SIDEKIQ8);
      expect(aj.data.scheduled_at).toBe('2026-01-01T00:10:00.500000000Z');
    });

    it('reads an unknown wrapper class when wrapped and args[0].job_class are present', () => {
      expect(unwrapActiveJob(makeJob({ class: 'MyApp::CustomWrapper' }))?.jobClass).toBe('MyJob');
    });

    it('returns undefined for a plain Sidekiq job', () => {
      expect(unwrapActiveJob(loadFixture('6.4.1', 'immediate'))).toBeUndefined();
    });

    it('keeps unknown keys of the serialized hash', () => {
      // Prepare
      const job = makeJob({ args: [{ job_class: 'MyJob', arguments: [], continuation: { step: 2 } }] });

      // Act / Assess
      expect(unwrapActiveJob(job)!.data.continuation).toEqual({ step: 2 });
    });

    it.each([
      ['no serialized hash', { args: [] }, 'args: an ActiveJob envelope holds exactly one argument, the serialized job; got 0'],
      ['two arguments', { args: [{}, {}] }, 'args: an ActiveJob envelope holds exactly one argument, the serialized job; got 2'],
      ['a non-hash args[0]', { args: ['MyJob'] }, 'args[0]: must be the ActiveJob serialized hash'],
      ['no job_class', { args: [{ arguments: [] }] }, 'args[0].job_class: must be a non-empty string naming the ActiveJob class'],
      ['arguments not an array', { args: [{ job_class: 'MyJob', arguments: {} }] }, 'args[0].arguments: must be an array'],
    ])('throws on a wrapper with %s', (_what, overrides, message) => {
      expect(() => unwrapActiveJob(makeJob(overrides as Partial<JobPayload>))).toThrow(ActiveJobPayloadError);
      expect(() => unwrapActiveJob(makeJob(overrides as Partial<JobPayload>))).toThrow(message);
    });
  });

  describe('decodeArguments', () => {
    it('turns a HashWithIndifferentAccess and symbol-keyed hash into plain objects', () => {
      expect(decodeArguments([{ a: 1, _aj_hash_with_indifferent_access: true }, { b: { c: 2, _aj_symbol_keys: ['c'] }, _aj_symbol_keys: [] }])).toEqual([
        { a: 1 },
        { b: { c: 2 } },
      ]);
    });

    it('reads a GlobalID hash only when it is the sole key, as Rails does', () => {
      expect(decodeArguments([{ _aj_globalid: 'gid://app/User/1' }, { _aj_globalid: 'gid://x', n: 1 }])).toEqual(['gid://app/User/1', { _aj_globalid: 'gid://x', n: 1 }]);
    });

    it("reads Rails ≤ 7.0's bare BigDecimal string as that string", () => {
      expect(decodeArguments(['0.1e2'])).toEqual(['0.1e2']);
    });

    it('keeps a "__proto__" key as a key', () => {
      // Act
      const [obj] = decodeArguments([JSON.parse('{"__proto__":{"x":1},"_aj_symbol_keys":[]}')]) as [object];

      // Assess
      expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
      expect(Object.keys(obj)).toEqual(['__proto__']);
    });

    it('names the path and serializer of an unknown _aj_serialized', () => {
      expect(() => decodeArguments([1, { m: { _aj_serialized: 'MoneySerializer', cents: 5 } }])).toThrow(
        'arguments[1].m: unknown ActiveJob serializer "MoneySerializer" (_aj_serialized); decode args[0].arguments yourself for custom serializers',
      );
    });

    it('names the path of a time that does not parse', () => {
      expect(() => decodeArguments([{ _aj_serialized: `${S}TimeSerializer`, value: 'soon' }])).toThrow(
        'arguments[0]: TimeSerializer value "soon" is not an ISO-8601 time',
      );
    });
  });

  describe('encodeArguments', () => {
    it('writes what Rails 6.1 writes for the same Ruby values', () => {
      // Prepare: the real arguments Rails wrote for these values, from the 6.4.1 fixture.
      const rails = (loadFixture('6.4.1', 'activejob').args[0] as { arguments: unknown[] }).arguments;

      // Act
      const ours = encodeArguments([
        1,
        's',
        2.5,
        null,
        true,
        [1, [2]],
        activeJobSymbol('a_symbol'),
        activeJobGlobalId('gid://app/User/42'),
        activeJobKeywords({ when: new Date('2024-01-02T03:04:05.123Z'), user: activeJobGlobalId('gid://app/User/7') }),
      ]);

      // Assess
      expect(ours.slice(0, 8)).toEqual([...rails.slice(0, 5), rails[8], rails[9], rails[10]]);
      expect(ours[8]).toEqual({
        when: { _aj_serialized: `${S}TimeSerializer`, value: '2024-01-02T03:04:05.123000000Z' },
        user: (rails[13] as Record<string, unknown>).user,
        _aj_ruby2_keywords: ['when', 'user'],
      });
    });

    it('writes a plain object as a string-keyed Hash with an empty _aj_symbol_keys', () => {
      expect(encodeArguments([{ str: 1, nested: { a: [] } }])).toEqual([{ str: 1, nested: { a: [], _aj_symbol_keys: [] }, _aj_symbol_keys: [] }]);
    });

    it.each([
      ['undefined', [undefined], 'args[0]', 'undefined is not JSON-native; use null'],
      ['a BigInt', [{ n: 2n ** 70n }], 'args[0].n', 'BigInt is not JSON-native; pass a number up to 2^53−1 or a string'],
      ['NaN', [[Number.NaN]], 'args[0][0]', 'NaN is not JSON-native (Ruby cannot read NaN or Infinity)'],
      ['a function', [1, () => 1], 'args[1]', 'functions are not JSON-native'],
      ['a Map', [new Map()], 'args[0]', 'Map objects are not JSON-native; pass a plain object or an array'],
      ['a reserved key', [{ _aj_globalid: 'gid://x' }], 'args[0]._aj_globalid', 'keys starting with _aj_ are reserved by ActiveJob'],
      ['a reserved keyword key', [activeJobKeywords({ _aj_symbol_keys: [] })], 'args[0]._aj_symbol_keys', 'keys starting with _aj_ are reserved by ActiveJob'],
      ['keywords not last', [activeJobKeywords({ a: 1 }), 2], 'args[0]', 'keyword arguments (activeJobKeywords) may only be the last argument of the job'],
      ['nested keywords', [[activeJobKeywords({ a: 1 })]], 'args[0][0]', 'keyword arguments (activeJobKeywords) may only be the last argument of the job'],
      ['an invalid Date', [new Date(Number.NaN)], 'args[0]', 'is an invalid Date'],
      ['a bad GlobalID', [activeJobGlobalId('User/1')], 'args[0]', 'a GlobalID must be a "gid://app/Model/id" string, got "User/1"'],
    ])('rejects %s, naming its path', (_what, args, path, problem) => {
      // Act
      let err: unknown;
      try {
        encodeArguments(args);
      } catch (e) {
        err = e;
      }

      // Assess
      expect(err).toBeInstanceOf(JobValidationError);
      expect(err).toMatchObject({ path, problem });
    });

    it('round-trips through decodeArguments into plain JS values', () => {
      // Prepare
      const when = new Date('2025-06-30T12:00:00.250Z');
      const args = [0, -1.5, 'é😀\u2028', null, false, [[]], { a: { b: [1, { c: 'd' }] } }, when, activeJobSymbol('fast'), activeJobGlobalId('gid://app/Post/9'), activeJobKeywords({ k: 1, at: when })];

      // Act
      const decoded = decodeArguments(JSON.parse(JSON.stringify(encodeArguments(args))) as unknown[]);

      // Assess
      expect(decoded).toEqual([0, -1.5, 'é😀\u2028', null, false, [[]], { a: { b: [1, { c: 'd' }] } }, when, 'fast', 'gid://app/Post/9', { k: 1, at: when }]);
    });
  });

  describe('wrapActiveJob', () => {
    it('writes the keys of Rails 6.1 serialize, in its order', () => {
      // Prepare: the real hash Rails 6.1 wrote.
      const rails = loadFixture('6.4.1', 'activejob').args[0] as Record<string, unknown>;

      // Act
      const data = wrapActiveJob('MyJob', [1], { queue: 'mailers', enqueuedAt: Date.UTC(2026, 10, 22, 8, 10, 15, 678) });

      // Assess
      expect(Object.keys(data)).toEqual(Object.keys(rails));
      expect(data).toMatchObject({
        job_class: 'MyJob',
        provider_job_id: null,
        queue_name: 'mailers',
        priority: null,
        arguments: [1],
        executions: 0,
        exception_executions: {},
        locale: 'en',
        timezone: 'UTC',
        enqueued_at: '2026-11-22T08:10:15Z',
      });
      expect(data.job_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });

    it('writes scheduled_at with 9 fractional digits when scheduled, and the given options', () => {
      // Act
      const data = wrapActiveJob('MyJob', [], {
        queue: 'low',
        enqueuedAt: 0,
        scheduledAt: Date.UTC(2026, 0, 1, 0, 10, 0, 500),
        jobId: 'fixed-id',
        priority: 5,
        locale: 'fr',
        timezone: 'Europe/Paris',
      });

      // Assess
      expect(data).toMatchObject({ job_id: 'fixed-id', priority: 5, locale: 'fr', timezone: 'Europe/Paris', scheduled_at: '2026-01-01T00:10:00.500000000Z' });
    });

    it('omits scheduled_at for an immediate job', () => {
      expect(wrapActiveJob('MyJob', [], { queue: 'q', enqueuedAt: 0 })).not.toHaveProperty('scheduled_at');
    });
  });
});
