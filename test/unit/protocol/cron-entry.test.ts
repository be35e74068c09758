import { describe, expect, it } from 'vitest';
import {
  dueFire,
  entryFields,
  fireMember,
  fireScore,
  formatEnqueueTime,
  parseEnqueueTime,
  pushItemOf,
  readStoredEntry,
} from '../../../lib/protocol/cron-entry.js';
import { parseCron } from '../../../lib/protocol/cron.js';
import { cronKeys, keys } from '../../../lib/protocol/keys.js';
import { resolveCronEntry } from '../../../lib/periodic.js';

/** Hashes exactly as Ruby wrote them (`Sidekiq::Cron::Job.create(name: 'rb', cron: '*\/5 * * * *', class: 'RubyOnlyJob', args: [1, {'a' => 2}], queue: 'low')`). */
const RUBY_18 = {
  name: 'rb', klass: 'RubyOnlyJob', cron: '*/5 * * * *', description: '', args: '[1,{"a":2}]', date_as_argument: 'false',
  message: '{"queue":"low","class":"RubyOnlyJob","args":[1,{"a":2}]}', status: 'enabled', active_job: 'false',
  queue_name_prefix: '', queue_name_delimiter: '', last_enqueue_time: '2026-12-01 16:10:19 +0000', symbolize_args: 'false',
};
const RUBY_24_AJ = {
  name: 'aj', namespace: 'default', klass: 'AjJob', cron: '0 9 * * * Europe/Berlin', description: '', source: 'dynamic', args: '[]',
  date_as_argument: '0', message: '{"queue":"mailers","class":"AjJob","args":[],"retry":3}', status: 'disabled', active_job: '1',
  queue_name_prefix: '', queue_name_delimiter: '', retry: '3', last_enqueue_time: '', symbolize_args: '0',
};
const T = (iso: string): number => Date.parse(iso);

describe('sidekiq-cron entries', () => {
  describe('cronKeys', () => {
    it('names 1.x keys, 2.x namespaced keys, and applies the redis-namespace prefix to keys only', () => {
      const v1 = cronKeys(keys('myapp'), 1);
      const v2 = cronKeys(keys(), 2);
      expect([v1.jobs('x'), v1.entry('cleanup', 'x'), v1.hash('cron_job:cleanup'), v1.enqueued('cron_job:cleanup'), v1.jidHistory('cron_job:cleanup')]).toEqual([
        'myapp:cron_jobs', 'cron_job:cleanup', 'myapp:cron_job:cleanup', 'myapp:cron_job:cleanup:enqueued', 'myapp:cron_job:cleanup:jid_history',
      ]);
      expect([v2.jobs('ops'), v2.entry('cleanup', 'ops'), v2.enqueued('cron_job:ops:cleanup')]).toEqual(['cron_jobs:ops', 'cron_job:ops:cleanup', 'cron_job:ops:cleanup:enqueued']);
    });
  });

  describe('entryFields', () => {
    it('spells a declared entry as 1.8.0 saves it, plus our mark', () => {
      const e = resolveCronEntry({ name: 'rb', class: 'RubyOnlyJob', queue: 'low', cron: '*/5 * * * *', args: [1, { a: 2 }] });
      expect(Object.fromEntries(entryFields(e, '*/5 * * * * UTC', 1))).toEqual({
        ...Object.fromEntries(Object.entries(RUBY_18).filter(([k]) => k !== 'status' && k !== 'last_enqueue_time')),
        cron: '*/5 * * * * UTC',
        declared_by: 'sidekiq-lambda',
      });
    });

    it('spells it as 2.x saves it: 1/0 flags, namespace, source dynamic, retry in the message and its own field', () => {
      const e = resolveCronEntry({ name: 'aj', class: 'AjJob', queue: 'mailers', cron: '0 9 * * * Europe/Berlin', activeJob: true, retry: 3 });
      expect(entryFields(e, '0 9 * * * Europe/Berlin', 2)).toEqual([
        ...Object.entries(RUBY_24_AJ).filter(([k]) => !['status', 'last_enqueue_time'].includes(k)),
        ['declared_by', 'sidekiq-lambda'],
      ]);
    });
  });

  describe('readStoredEntry', () => {
    it('reads what Ruby wrote, as sidekiq-cron’s Job.new does', () => {
      expect(readStoredEntry('cron_job:rb', RUBY_18)).toMatchObject({
        name: 'rb', klass: 'RubyOnlyJob', status: 'enabled', args: [1, { a: 2 }], queue: 'low', activeJob: false,
        lastEnqueueMs: T('2026-12-01T16:10:19Z'), declared: false, problem: undefined, namespace: undefined,
      });
      expect(readStoredEntry('cron_job:default:aj', RUBY_24_AJ)).toMatchObject({ namespace: 'default', status: 'disabled', activeJob: true, queue: 'mailers', lastEnqueueMs: undefined });
    });

    it('defaults as Ruby does: enabled, queue default, args [] or a non-JSON string wrapped; names what valid? refuses', () => {
      const e = readStoredEntry('cron_job:x', { name: 'x', cron: '* * * * *', args: 'plain' });
      expect(e).toMatchObject({ status: 'enabled', queue: 'default', args: ['plain'], problem: "'klass' (or class) must be set" });
    });
  });

  describe('dueFire', () => {
    const every5 = parseCron('*/5 * * * *');
    const enabled = { status: 'enabled', lastEnqueueMs: undefined };

    it('fires the latest fire time while it is at most 60 s old, the 60th second included', () => {
      expect(dueFire(enabled, every5, T('2024-03-09T10:05:30Z'))).toEqual({ kind: 'fire', at: new Date('2024-03-09T10:05:00Z') });
      expect(dueFire(enabled, every5, T('2024-03-09T10:06:00.900Z'))).toMatchObject({ kind: 'fire' });
      expect(dueFire(enabled, every5, T('2024-03-09T10:06:01Z'))).toEqual({ kind: 'skip', reason: 'late', at: new Date('2024-03-09T10:05:00Z') });
    });

    it('catches up only the latest missed time: a scheduler down for 12 minutes fires 10:10 at 10:10:40, never 10:00 or 10:05', () => {
      expect(dueFire(enabled, every5, T('2024-03-09T10:10:40Z'))).toEqual({ kind: 'fire', at: new Date('2024-03-09T10:10:00Z') });
      expect(dueFire(enabled, every5, T('2024-03-09T10:12:00Z'), 60)).toMatchObject({ kind: 'skip', reason: 'late' });
      expect(dueFire(enabled, every5, T('2024-03-09T10:12:00Z'), 300)).toMatchObject({ kind: 'fire' }); // 2.x's reschedule_grace_period
    });

    it('does not fire a time enqueued at or after (last_enqueue_time, whole seconds), nor a disabled entry', () => {
      expect(dueFire({ status: 'enabled', lastEnqueueMs: T('2024-03-09T10:05:00.500Z') }, every5, T('2024-03-09T10:05:30Z'))).toMatchObject({ kind: 'skip', reason: 'enqueued' });
      expect(dueFire({ status: 'enabled', lastEnqueueMs: T('2024-03-09T10:04:59.999Z') }, every5, T('2024-03-09T10:05:30Z'))).toMatchObject({ kind: 'fire' });
      expect(dueFire({ status: 'disabled', lastEnqueueMs: undefined }, every5, T('2024-03-09T10:05:30Z'))).toEqual({ kind: 'skip', reason: 'disabled', at: undefined });
    });

    it("fires from fugit's previous_time: second 0 of a minute still belongs to the minute before, as in Ruby", () => {
      const everyMinute = parseCron('* * * * *');
      expect(dueFire(enabled, everyMinute, T('2024-03-09T10:05:00.300Z'))).toEqual({ kind: 'fire', at: new Date('2024-03-09T10:04:00Z') });
      expect(dueFire(enabled, everyMinute, T('2024-03-09T10:05:01Z'))).toEqual({ kind: 'fire', at: new Date('2024-03-09T10:05:00Z') });
    });

    it('fires a time that exists only once across a DST change, in the entry’s zone', () => {
      // 02:30 does not exist in New York on 2024-03-10: fugit's previous_time gives the 9th's.
      const e = parseCron('30 2 * * * America/New_York');
      expect(dueFire(enabled, e, T('2024-03-10T07:30:30Z'))).toMatchObject({ kind: 'skip', reason: 'late', at: new Date('2024-03-09T07:30:00Z') });
    });
  });

  describe('times', () => {
    it('spells the guard member and score as Ruby’s iso8601 and Float#to_s', () => {
      expect(fireMember(new Date('2024-03-09T10:05:00Z'))).toBe('2024-03-09T10:05:00Z');
      expect(fireScore(new Date('2024-03-09T10:05:00Z'))).toBe('1709978700.0');
    });

    it('writes last_enqueue_time as %Y-%m-%d %H:%M:%S %z and reads every spelling Ruby leaves', () => {
      expect(formatEnqueueTime(T('2024-03-09T10:05:03.400Z'))).toBe('2024-03-09 10:05:03 +0000');
      expect(parseEnqueueTime('2024-03-09 11:05:03 +0100')).toBe(T('2024-03-09T10:05:03Z'));
      expect(parseEnqueueTime('2024-03-09 10:05:03 UTC')).toBe(T('2024-03-09T10:05:03Z'));
      expect(parseEnqueueTime('2024-03-09T10:05:03.250-02:30')).toBe(T('2024-03-09T12:35:03.250Z'));
      expect(parseEnqueueTime('')).toBeUndefined();
      expect(parseEnqueueTime('yesterday')).toBeUndefined();
    });
  });

  describe('pushItemOf', () => {
    const now = T('2024-03-09T10:05:03.500Z');

    it('pushes the stored message with the entry’s args, as enqueue! does for a class it cannot load', () => {
      const e = readStoredEntry('k', { ...RUBY_18, message: '{"queue":"low","retry":3,"backtrace":true,"class":"RubyOnlyJob","args":[],"jid":"x"}', date_as_argument: 'true' });
      expect(pushItemOf(e, now, 7)).toEqual({ class: 'RubyOnlyJob', queue: 'low', retry: 3, backtrace: true, args: [1, { a: 2 }, 1709978703.5] });
    });

    it('wraps an ActiveJob entry as perform_later does, with queue_name_prefix and 2.x GlobalID arguments', () => {
      const e = readStoredEntry('k', { ...RUBY_24_AJ, args: '[{"_sc_globalid":"gid://app/User/1"},{"n":1}]', queue_name_prefix: 'prod' });
      const item = pushItemOf(e, now, 7);
      expect(item).toMatchObject({ class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'AjJob', queue: 'prod_mailers' });
      expect(item.args).toEqual([expect.objectContaining({ job_class: 'AjJob', queue_name: 'prod_mailers', arguments: [{ _aj_globalid: 'gid://app/User/1' }, { n: 1, _aj_symbol_keys: [] }], enqueued_at: '2024-03-09T10:05:03Z' })]);
      expect(pushItemOf(e, now, 8).class).toBe('Sidekiq::ActiveJob::Wrapper');
    });
  });
});
