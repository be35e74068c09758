import { describe, expect, it } from 'vitest';
import { PayloadSyntaxError, RawJson, hasUnsafeInteger, joinEntries, parseLossless, splitObject, writeObject, writeValue } from '../../../lib/protocol/json.js';
import { fixtures } from './fixtures.js';

const RUBY_PAYLOAD =
  '{"retry":true,"queue":"default","args":[1.0,1.0e+20,1.0e-07,-0.0,12345678901234567890,"a\\"b\\\\c\\n\\u0001","é😀\u2028",{"n":[{"x":"}]"}]}],"class":"HardJob","bid":"b-1","x_custom":{"k":[1,2]}}';

describe('json', () => {
  describe('splitObject', () => {
    it('keeps each top-level value as its exact text, in order', () => {
      // Act
      const entries = splitObject(RUBY_PAYLOAD);

      // Assess
      expect([...entries.keys()]).toEqual(['retry', 'queue', 'args', 'class', 'bid', 'x_custom']);
      expect(entries.get('args')).toBe('[1.0,1.0e+20,1.0e-07,-0.0,12345678901234567890,"a\\"b\\\\c\\n\\u0001","é😀\u2028",{"n":[{"x":"}]"}]}]');
      expect(entries.get('x_custom')).toBe('{"k":[1,2]}');
    });

    it('joins back to the identical bytes', () => {
      // Act
      const text = joinEntries(splitObject(RUBY_PAYLOAD));

      // Assess
      expect(text).toBe(RUBY_PAYLOAD);
    });

    it('round-trips every golden fixture byte for byte', () => {
      for (const f of fixtures()) expect(joinEntries(splitObject(f.raw)), f.file).toBe(f.raw);
    });

    it('tolerates whitespace and escaped keys', () => {
      // Act
      const entries = splitObject(' { "a\\"k" : 1 , "b":\t[ 2 ] } ');

      // Assess
      expect([...entries]).toEqual([
        ['a"k', '1'],
        ['b', '[ 2 ]'],
      ]);
    });

    it('reads an empty object', () => {
      expect(splitObject('{}').size).toBe(0);
    });

    it('rejects a payload that is not an object', () => {
      expect(() => splitObject('[1]')).toThrow(new PayloadSyntaxError('payload is not a JSON object'));
    });

    it('rejects an unterminated string', () => {
      expect(() => splitObject('{"a":"x')).toThrow(PayloadSyntaxError);
    });
  });

  describe('writeObject', () => {
    it('writes RawJson verbatim and skips undefined', () => {
      // Act
      const text = writeObject([
        ['a', new RawJson('1795334852.0')],
        ['b', undefined],
        ['c', { d: 'é' }],
      ]);

      // Assess
      expect(text).toBe('{"a":1795334852.0,"c":{"d":"é"}}');
    });
  });

  describe('writeValue', () => {
    it('refuses a value JSON cannot represent', () => {
      expect(() => writeValue(undefined)).toThrow('value is not representable in JSON');
    });
  });

  describe('RawJson', () => {
    it('refuses to go through JSON.stringify', () => {
      expect(() => JSON.stringify({ a: new RawJson('1') })).toThrow('RawJson must be written with writeObject');
    });
  });

  describe('parseLossless', () => {
    it('turns integers past 2^53 into BigInt and keeps the rest as JSON.parse does', () => {
      // Act
      const value = parseLossless('[12345678901234567890,-9007199254740993,9007199254740991,1.5,1.0e+20,"12345678901234567890"]');

      // Assess
      expect(value).toEqual([12345678901234567890n, -9007199254740993n, 9007199254740991, 1.5, 1e20, '12345678901234567890']);
    });

    it('reads the big integer of the real Sidekiq 6.4.1 payload exactly', () => {
      // Prepare
      const raw = fixtures().find((f) => f.version === '6.4.1' && f.kind === 'immediate')!.raw;

      // Act
      const job = parseLossless(raw) as { args: unknown[] };

      // Assess
      expect(job.args[3]).toBe(12345678901234567890n);
    });
  });

  describe('hasUnsafeInteger', () => {
    it('is true for an integer past 2^53', () => {
      expect(hasUnsafeInteger('{"args":[9007199254740993]}')).toBe(true);
    });

    it('is false for 2^53−1, long floats and long digit strings', () => {
      expect(hasUnsafeInteger('[9007199254740991,1795334852.1731977123,"12345678901234567890"]')).toBe(false);
    });

    it('is false without any long digit run', () => {
      expect(hasUnsafeInteger('{"args":[1,2,3]}')).toBe(false);
    });
  });
});
