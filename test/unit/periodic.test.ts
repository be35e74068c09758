import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadDeclarations } from '../../lib/declarations.js';
import { defineJobs, type JobDeclaration } from '../../lib/jobs.js';
import { CRON_DEFAULTS, CRON_ENV, CronDeclarationError, decodeCron, encodeCron, resolveCronEntry, storedCron, type CronEntry } from '../../lib/periodic.js';
import { ENV, schedulerConfigFromEnv, cronConfigFromEnv, ConfigError } from '../../lib/config.js';

function makeJob(overrides: Partial<JobDeclaration> = {}): JobDeclaration {
  return { class: 'ReportJob', queue: 'reports', entry: 'functions/report.ts', ...overrides };
}

/** Every field at its default, for an entry of `cls` on `queue`. */
function entry(cls: string, queue: string, cron: string, more: Partial<CronEntry> = {}): CronEntry {
  return { ...CRON_DEFAULTS, retry: undefined, name: cls, class: cls, queue, cron, ...more };
}

describe('periodic jobs', () => {
  describe('declaring', () => {
    it('takes an expression on a job: the entry is named after the class, on its queue, in UTC', () => {
      // Act
      const jobs = defineJobs([makeJob({ cron: '0 6 * * *' }), makeJob({ class: 'QuietJob', queue: 'q' })]);
      // Assess
      expect(jobs.cron).toEqual([entry('ReportJob', 'reports', '0 6 * * *')]);
      expect(jobs[0]!.cron).toEqual(jobs.cron);
      expect(jobs[1]!.cron).toEqual([]);
    });

    it('takes a schedule with a name, zone, args and options, and several named schedules', () => {
      const jobs = defineJobs([
        makeJob({
          cron: [
            { name: 'daily report', cron: '0 6 * * *', timezone: 'Europe/Berlin', args: ['daily', { top: 10 }], retry: 3, description: 'for the board' },
            { name: 'weekly report', cron: '0 7 * * mon', args: ['weekly'], activeJob: true, namespace: 'reports', dateAsArgument: true },
          ],
        }),
      ]);
      expect(jobs.cron).toEqual([
        entry('ReportJob', 'reports', '0 6 * * *', { name: 'daily report', timezone: 'Europe/Berlin', args: ['daily', { top: 10 }], retry: 3, description: 'for the board' }),
        entry('ReportJob', 'reports', '0 7 * * mon', { name: 'weekly report', args: ['weekly'], activeJob: true, namespace: 'reports', dateAsArgument: true }),
      ]);
    });

    it('takes entries for Ruby classes in a separate list, queue default by default', () => {
      const jobs = defineJobs([makeJob({ cron: '0 6 * * *' })], {
        cron: [{ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*/5 * * * *' }, { class: 'Nightly::Sweep', cron: '@daily' }],
      });
      expect(jobs.cron.map((e) => [e.name, e.class, e.queue, e.cron])).toEqual([
        ['ReportJob', 'ReportJob', 'reports', '0 6 * * *'],
        ['cleanup', 'CleanupJob', 'maintenance', '*/5 * * * *'],
        ['Nightly::Sweep', 'Nightly::Sweep', 'default', '@daily'],
      ]);
    });

    it('keeps the periodic jobs when the list is declared again (the construct and the loader do)', () => {
      const once = defineJobs([makeJob({ cron: '0 6 * * *' })], { cron: [{ name: 'cleanup', class: 'CleanupJob', cron: '*/5 * * * *' }] });
      expect(defineJobs(once).cron).toEqual(once.cron);
      expect([...defineJobs(once)]).toEqual([...once]);
    });

    it('come out of the declarations file that dev and deploy load', async () => {
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), 'skl-cron-'));
      const jobs = fileURLToPath(new URL('../../lib/jobs.ts', import.meta.url));
      const file = join(dir, 'sidekiq-lambda.config.ts');
      writeFileSync(file, `import { defineJobs } from ${JSON.stringify(jobs)};
export default defineJobs([{ class: 'ReportJob', queue: 'reports', entry: 'r.ts', cron: '0 6 * * *' }], { cron: [{ name: 'cleanup', class: 'CleanupJob', cron: '@hourly' }] });`);
      try {
        // Act
        const loaded = await loadDeclarations(file);
        // Assess
        expect(loaded.cron.map((e) => [e.name, e.class, e.queue, e.cron])).toEqual([['ReportJob', 'ReportJob', 'reports', '0 6 * * *'], ['cleanup', 'CleanupJob', 'default', '@hourly']]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('stores the expression with its zone spelled out, so fugit in any Ruby process agrees', () => {
      expect(storedCron(resolveCronEntry({ class: 'A', cron: '*/5 * * * *' }))).toBe('*/5 * * * * UTC');
      expect(storedCron(resolveCronEntry({ class: 'A', cron: '@daily', timezone: 'Europe/Berlin' }))).toBe('0 0 * * * Europe/Berlin');
      expect(storedCron(resolveCronEntry({ class: 'A', cron: '0 9 * * * America/New_York' }))).toBe('0 9 * * * America/New_York');
      expect(resolveCronEntry({ class: 'A', cron: '0 9 * * * America/New_York' }).timezone).toBe('America/New_York');
    });

    it.each([
      ['an expression out of range', makeJob({ cron: '*/5 * * * 8' }), "job ReportJob: cron entry ReportJob: cron '*/5 * * * 8': field 5 (day of week) out of range 0-7: 8"],
      ['a zone given twice', makeJob({ cron: { cron: '0 9 * * * Europe/Paris', timezone: 'Europe/Berlin' } }), "job ReportJob: cron entry ReportJob: cron '0 9 * * * Europe/Paris': time zone given twice: 'Europe/Paris' in the expression and 'Europe/Berlin' as an option"],
      ['an empty expression', makeJob({ cron: ' ' }), "job ReportJob: cron entry ReportJob: cron must be an expression, e.g. '*/5 * * * *'"],
      ['two unnamed schedules', makeJob({ cron: [{ cron: '0 6 * * *' }, { cron: '0 7 * * *' }] }), 'job ReportJob: it has 2 cron schedules; give each a name'],
      ['args that are not JSON', makeJob({ cron: { cron: '0 6 * * *', args: [1n] } }), 'job ReportJob: cron entry ReportJob: args[0]: BigInt is not JSON-native; pass a number up to 2^53−1 or a string'],
      ['a retry that is not Sidekiq’s', makeJob({ cron: { cron: '0 6 * * *', retry: -1 } }), 'job ReportJob: cron entry ReportJob: retry: must be true, false or a non-negative integer'],
      ['a 2.x namespace with a colon', makeJob({ cron: { cron: '0 6 * * *', namespace: 'a:b' } }), 'job ReportJob: cron entry ReportJob: namespace "a:b" must be non-empty, without spaces, \':\' or \'*\''],
    ])('refuses %s, naming the entry and the part', (_what, decl, message) => {
      expect(() => defineJobs([decl])).toThrow(new CronDeclarationError(message));
    });

    it('refuses a Ruby entry without a class, and two entries of one name', () => {
      expect(() => defineJobs([], { cron: [{ class: '', cron: '* * * * *' }] })).toThrow(/^cron entry \(unnamed\): class: /);
      expect(() => defineJobs([makeJob({ cron: '0 6 * * *' })], { cron: [{ class: 'ReportJob', cron: '0 7 * * *' }] })).toThrow(
        new CronDeclarationError('cron entry ReportJob is declared twice'),
      );
      // One name in two 2.x namespaces is two entries.
      expect(defineJobs([], { cron: [{ class: 'A', cron: '* * * * *' }, { class: 'A', cron: '* * * * *', namespace: 'other' }] }).cron).toHaveLength(2);
    });
  });

  describe('encodeCron / decodeCron', () => {
    it('round-trips the declarations through the environment', () => {
      // Prepare
      const declared = defineJobs(
        [makeJob({ cron: [{ name: 'daily', cron: '0 6 * * *', timezone: 'Europe/Berlin', args: [1, 'two', { k: [null, true] }], retry: false }, { name: 'hourly', cron: '@hourly', activeJob: true }] })],
        { cron: [{ name: 'cleanup', class: 'CleanupJob', queue: 'maintenance', cron: '*/5 * * * *', namespace: 'ops', dateAsArgument: true, description: 'sweep' }] },
      ).cron;
      // Act
      const text = encodeCron(declared);
      const config = schedulerConfigFromEnv({ [CRON_ENV]: text });
      // Assess
      expect(decodeCron(text)).toEqual(declared);
      expect(config.cron.entries).toEqual(declared);
      expect(text.length).toBeLessThan(520); // defaults left out: the scheduler's whole environment holds 4 KB
    });

    it('leaves defaults out', () => {
      expect(encodeCron([resolveCronEntry({ class: 'CleanupJob', cron: '*/5 * * * *' })])).toBe('[{"class":"CleanupJob","cron":"*/5 * * * *"}]');
    });

    it.each([
      ['not JSON', '[', /^SIDEKIQ_LAMBDA_CRON is not valid JSON: /],
      ['not an array', '{}', /^SIDEKIQ_LAMBDA_CRON must be a JSON array$/],
      ['a row that is not an object', '[1]', /^SIDEKIQ_LAMBDA_CRON\[0\] must be an object$/],
      ['an unsupported expression', '[{"class":"A","cron":"61 * * * *"}]', /^SIDEKIQ_LAMBDA_CRON\[0\]: cron '61 \* \* \* \*': field 1 \(minute\) out of range 0-59: 61$/],
      ['a name twice', '[{"class":"A","cron":"* * * * *"},{"class":"A","cron":"0 * * * *"}]', /^cron entry A is declared twice$/],
    ])('fails loudly on %s', (_what, text, message) => {
      expect(() => decodeCron(text)).toThrow(message);
      expect(() => decodeCron(text)).toThrow(CronDeclarationError);
    });

    it('names the environment variables it reads, with their defaults', () => {
      expect(ENV.cron).toBe('SIDEKIQ_LAMBDA_CRON');
      expect(cronConfigFromEnv({})).toEqual({ entries: undefined, layout: undefined, namespaces: ['default'], graceSeconds: 60 });
      expect(cronConfigFromEnv({ SIDEKIQ_LAMBDA_CRON: '[]', SIDEKIQ_CRON_VERSION: '1.8.0', SIDEKIQ_CRON_NAMESPACES: 'a, b', SIDEKIQ_CRON_GRACE_SECONDS: '120' })).toEqual({
        entries: [],
        layout: 1,
        namespaces: ['a', 'b'],
        graceSeconds: 120,
      });
      expect(() => cronConfigFromEnv({ SIDEKIQ_CRON_VERSION: '3' })).toThrow(new ConfigError('SIDEKIQ_CRON_VERSION must be 1 or 2 (sidekiq-cron\'s major version), got "3"'));
    });
  });
});
