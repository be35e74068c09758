import { describe, expect, it } from 'vitest';
import {
  JobValidationError,
  generateJid,
  validateArgs,
  validateClass,
  validateJid,
  validateJsonNative,
  validateQueue,
  validateRetry,
} from '../../../lib/protocol/validate.js';

class Money {
  constructor(readonly cents: number) {}
}

function rejection(fn: () => unknown): { path: string; problem: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(JobValidationError);
    const err = e as JobValidationError;
    return { path: err.path, problem: err.problem, message: err.message };
  }
  throw new Error('expected a JobValidationError');
}

describe('validate', () => {
  describe('validateJsonNative', () => {
    it.each([
      ['undefined', [1, undefined], 'args[1]', 'undefined is not JSON-native; use null'],
      ['a function', [() => 1], 'args[0]', 'functions are not JSON-native'],
      ['a symbol', [{ s: Symbol('x') }], 'args[0].s', 'symbols are not JSON-native; pass a string'],
      ['a BigInt', [[1n]], 'args[0][0]', 'BigInt is not JSON-native; pass a number up to 2^53−1 or a string'],
      ['NaN', [Number.NaN], 'args[0]', 'NaN is not JSON-native (Ruby cannot read NaN or Infinity)'],
      ['Infinity', [-Infinity], 'args[0]', '-Infinity is not JSON-native (Ruby cannot read NaN or Infinity)'],
      ['a Date', [1, 'x', { when: new Date(0) }], 'args[2].when', 'Date objects are not JSON-native; pass an ISO-8601 string or epoch seconds'],
      ['a Map', [new Map()], 'args[0]', 'Map objects are not JSON-native; pass a plain object or an array'],
      ['a Set', [new Set()], 'args[0]', 'Set objects are not JSON-native; pass a plain object or an array'],
      ['a class instance', [new Money(5)], 'args[0]', 'Money instances are not JSON-native; pass a plain object'],
      [
        'a lone surrogate',
        ['ok', 'bad\ud800'],
        'args[1]',
        "contains a lone UTF-16 surrogate, which Ruby's JSON parser rejects; clean it with String.prototype.toWellFormed()",
      ],
      ['a lone surrogate in a key', [{ ['k\udc00']: 1 }], 'args[0].k\udc00', 'key contains a lone UTF-16 surrogate'],
    ])('rejects %s, naming its path', (_kind, args, path, problem) => {
      // Act
      const err = rejection(() => validateJsonNative(args, 'args'));

      // Assess
      expect(err).toEqual({ path, problem, message: `${path}: ${problem}` });
    });

    it('rejects a circular reference', () => {
      // Prepare
      const a: Record<string, unknown> = {};
      a.self = a;

      // Act / Assess
      expect(rejection(() => validateJsonNative([a], 'args'))).toMatchObject({ path: 'args[0].self', problem: 'is a circular reference' });
    });

    it('accepts nested JSON-native values, including a repeated (non-circular) object', () => {
      // Prepare
      const shared = { k: 1 };
      const args = [null, true, 0, -1.5, 2 ** 53 - 1, '', 'é😀\u2028', [], {}, { a: [{ b: [shared, shared] }] }, Object.create(null) as object];

      // Act / Assess
      expect(() => validateJsonNative(args, 'args')).not.toThrow();
    });
  });

  describe('validateArgs', () => {
    it('rejects a non-array', () => {
      expect(rejection(() => validateArgs({ a: 1 }))).toMatchObject({ path: 'args', problem: 'must be an array of arguments' });
    });

    it('returns valid args', () => {
      expect(validateArgs([1, 'two'])).toEqual([1, 'two']);
    });
  });

  describe('validateClass', () => {
    it('rejects an empty or blank class', () => {
      for (const v of ['', '  ', 3, undefined]) {
        expect(rejection(() => validateClass(v))).toMatchObject({ path: 'class', problem: 'must be a non-empty string naming the job class' });
      }
    });

    it('accepts a namespaced class', () => {
      expect(validateClass('A::B')).toBe('A::B');
    });
  });

  describe('validateQueue', () => {
    it('rejects an empty queue', () => {
      expect(rejection(() => validateQueue(''))).toMatchObject({ path: 'queue', problem: 'must be a non-empty string' });
    });

    it('rejects names the Web UI cannot show', () => {
      expect(rejection(() => validateQueue('a b')).message).toBe(
        'queue: "a b" may only contain letters, digits and _ : . - (the Web UI cannot show other names)',
      );
    });

    it('accepts letters, digits and _ : . -', () => {
      expect(validateQueue('low_prio:eu-1.x')).toBe('low_prio:eu-1.x');
    });
  });

  describe('validateJid', () => {
    it('rejects uppercase or short jids', () => {
      for (const v of ['6CB5902100BDC6BB63743E09', 'abc', 42]) {
        expect(rejection(() => validateJid(v))).toMatchObject({ path: 'jid', problem: 'must be 24 lowercase hex characters' });
      }
    });
  });

  describe('generateJid', () => {
    it('makes 24 lowercase hex characters, fresh each time', () => {
      // Act
      const [a, b] = [generateJid(), generateJid()];

      // Assess
      expect(validateJid(a)).toBe(a);
      expect(a).not.toBe(b);
    });
  });

  describe('validateRetry', () => {
    it('accepts true, false and non-negative integers, including 0', () => {
      expect([true, false, 0, 25].map((v) => validateRetry(v))).toEqual([true, false, 0, 25]);
    });

    it('rejects negative, fractional and string values', () => {
      for (const v of [-1, 1.5, '3']) {
        expect(rejection(() => validateRetry(v))).toMatchObject({ path: 'retry', problem: 'must be true, false or a non-negative integer' });
      }
    });
  });
});
