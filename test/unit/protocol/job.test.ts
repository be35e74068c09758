import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { displayClass, isMalformed, readJob, withFields, type FetchedJob, type JobPayload } from '../../../lib/protocol/job.js';
import { RawJson } from '../../../lib/protocol/json.js';
import { readTimestamp } from '../../../lib/protocol/time.js';
import { fixture, fixtures } from './fixtures.js';

function read(raw: string): FetchedJob {
  const r = readJob(raw);
  if (isMalformed(r)) throw new Error(`unexpectedly malformed: ${r.reason}`);
  return r;
}

function backtraceLines(encoded: string): string[] {
  return JSON.parse(inflateSync(Buffer.from(encoded, 'base64')).toString('utf8')) as string[];
}

describe('job', () => {
  describe('readJob', () => {
    it.each(fixtures().map((f) => [f.file, f] as const))('reads %s and keeps its raw bytes', (_name, f) => {
      // Act
      const r = read(f.raw);

      // Assess
      expect(r.raw).toBe(f.raw);
      expect(r.job.class).toMatch(/Job|Worker|Wrapper/);
      expect(Array.isArray(r.job.args)).toBe(true);
      expect(r.job.jid).toMatch(/^[0-9a-f]{24}$/);
      expect(readTimestamp(r.job.created_at)).toBeGreaterThan(Date.UTC(2025, 0, 1));
    });

    it.each(fixtures().filter((f) => f.key === 'schedule').map((f) => [f.file, f] as const))(
      'finds no "at" in the scheduled entry %s',
      (_name, f) => {
        expect(read(f.raw).job).not.toHaveProperty('at');
      },
    );

    it.each(['6.4.1', '7.3.9', '7.3.10', '8.1.7'] as const)('reads the %s retry error fields', (v) => {
      // Act
      const { job } = read(fixture(v, 'retry').raw);

      // Assess
      expect(job).toMatchObject({ error_message: 'boom: 💥', error_class: 'RuntimeError', retry_count: 0 });
      expect(readTimestamp(job.failed_at)).toBeGreaterThan(readTimestamp(job.enqueued_at)!);
      expect(job.retried_at).toBeUndefined();
      // The real ones (6.4.1, 7.3.10) carry generate.rb's own 4 frames; the derived ones 5 (`backtrace: 5`).
      expect(backtraceLines(job.error_backtrace!)).toHaveLength(v === '6.4.1' || v === '7.3.10' ? 4 : 5);
    });

    it('reads a later failure: retried_at and retry_count 1, failed_at kept', () => {
      // Act
      const first = read(fixture('6.4.1', 'retry').raw).job;
      const again = read(fixture('6.4.1', 'retry-again').raw).job;

      // Assess
      expect(again.retry_count).toBe(1);
      expect(again.failed_at).toBe(first.failed_at);
      expect(readTimestamp(again.retried_at)).toBeGreaterThanOrEqual(readTimestamp(first.failed_at)!);
    });

    it('sees both error_backtrace encodings: base64 with newlines (6.x) and strict (7.2.1+)', () => {
      // Act
      const old = read(fixture('6.4.1', 'retry').raw).job.error_backtrace!;
      const strict = read(fixture('7.3.9', 'retry').raw).job.error_backtrace!;

      // Assess
      expect(old).toContain('\n');
      expect(strict).not.toContain('\n');
      expect(backtraceLines(old)[0]).toContain('fail_once');
      expect(backtraceLines(strict)[0]).toBe("/app/app/jobs/hard_job.rb:7:in `perform'");
    });

    it('reads a dead job with retry: 0 (truthy in Ruby)', () => {
      // Act
      const { job } = read(fixture('6.4.1', 'dead').raw);

      // Assess
      expect(job).toMatchObject({ retry: 0, retry_count: 0, backtrace: true, error_message: 'fatal' });
    });

    it('reports invalid JSON as malformed', () => {
      // Act
      const r = readJob('{"class":"HardJob","args":[1,]}');

      // Assess
      expect(isMalformed(r)).toBe(true);
      expect((r as { reason: string }).reason).toMatch(/^invalid JSON: /);
    });

    it('reports a payload that is not an object', () => {
      expect(readJob('[1,2]')).toEqual({ raw: '[1,2]', reason: 'payload is not a JSON object' });
    });

    it('reports a missing class', () => {
      expect(readJob('{"args":[]}')).toEqual({ raw: '{"args":[]}', reason: 'class: missing or not a non-empty string' });
    });

    it('reports an empty class', () => {
      expect(readJob('{"class":"","args":[]}')).toMatchObject({ reason: 'class: missing or not a non-empty string' });
    });

    it('reports args that are not an array', () => {
      expect(readJob('{"class":"HardJob","args":{"a":1}}')).toMatchObject({ reason: 'args: missing or not an array' });
    });

    it('reports an empty queue name', () => {
      expect(readJob('{"class":"HardJob","args":[],"queue":""}')).toMatchObject({ reason: 'queue: not a non-empty string' });
    });
  });

  describe('withFields', () => {
    it('adds error fields after the existing keys and keeps every other byte', () => {
      // Prepare
      const raw = fixture('6.4.1', 'immediate').raw;

      // Act
      const out = withFields(raw, { error_message: 'boom', retry_count: 0, failed_at: new RawJson('1795334860.0') });

      // Assess
      expect(out).toBe(`${raw.slice(0, -1)},"error_message":"boom","retry_count":0,"failed_at":1795334860.0}`);
    });

    it('changes a field in place and removes one set to undefined', () => {
      // Prepare
      const raw = '{"queue":"a","args":[12345678901234567890,1.0],"x_pro":{"k":1},"at":1.5,"class":"C"}';

      // Act
      const out = withFields(raw, { queue: 'b', at: undefined });

      // Assess
      expect(out).toBe('{"queue":"b","args":[12345678901234567890,1.0],"x_pro":{"k":1},"class":"C"}');
    });

    it('keeps big integers, float spellings and unicode of a real ActiveJob payload', () => {
      // Prepare
      const raw = fixture('6.4.1', 'activejob').raw;

      // Act
      const out = withFields(raw, { retry_count: 0 });

      // Assess
      expect(out.slice(0, raw.length - 1)).toBe(raw.slice(0, -1));
      expect(out).toContain('1180591620717411303424');
    });
  });

  describe('displayClass', () => {
    it('is the wrapped ActiveJob class when present', () => {
      // Prepare
      const job = read(fixture('8.1.7', 'activejob').raw).job;

      // Act / Assess
      expect(displayClass(job)).toBe('MyJob');
    });

    it('is the class otherwise', () => {
      expect(displayClass({ class: 'HardJob' } as JobPayload)).toBe('HardJob');
    });
  });
});
