import { describe, expect, it } from 'vitest';
import {
  JOBS_ENV,
  JOB_DEFAULTS,
  JobDeclarationError,
  decodeRoutes,
  defaultFunctionName,
  defineJobs,
  encodeRoutes,
  routeOf,
  type JobDeclaration,
} from '../../lib/jobs.js';

function makeDecl(overrides: Partial<JobDeclaration> = {}): JobDeclaration {
  return { class: 'TrackUserJob', queue: 'track', entry: 'functions/track-user.ts', ...overrides };
}

describe('jobs', () => {
  describe('defineJobs', () => {
    it('applies every default', () => {
      // Act
      const [job] = defineJobs([makeDecl()]);

      // Assess
      expect(job).toEqual({ ...makeDecl(), ...JOB_DEFAULTS, functionName: 'sidekiq-lambda-TrackUserJob' });
    });

    it('treats an option set to undefined as its default', () => {
      expect(defineJobs([makeDecl({ timeoutSeconds: undefined, batchSize: undefined })])[0]).toMatchObject({ timeoutSeconds: 30, batchSize: 1 });
    });

    it('keeps given options', () => {
      expect(defineJobs([makeDecl({ concurrency: 50, batchSize: 10, timeoutSeconds: 900 })])[0]).toMatchObject({ concurrency: 50, batchSize: 10, timeoutSeconds: 900 });
    });

    it.each([
      ['no class', { class: ' ' }, 'a job declaration has no class: set `class` to the Ruby job class name'],
      ['a bad queue', { queue: 'a b' }, 'job TrackUserJob: queue: "a b" may only contain letters, digits and _ : . - (the Web UI cannot show other names)'],
      ['an empty queue', { queue: '' }, 'job TrackUserJob: queue: must be a non-empty string'],
      ['no entry', { entry: '' }, "job TrackUserJob: entry must name the handler file, e.g. 'functions/track-user.ts'"],
      ['a timeout past Lambda’s 900 s', { timeoutSeconds: 901 }, 'job TrackUserJob: timeoutSeconds must be an integer from 1 to 900, got 901'],
      ['a fractional memory size', { memoryMb: 256.5 }, 'job TrackUserJob: memoryMb must be an integer from 1 to 10240, got 256.5'],
      ['zero concurrency', { concurrency: 0 }, 'job TrackUserJob: concurrency must be an integer from 1 to 9007199254740991, got 0'],
      ['a batch over 1000', { batchSize: 1001 }, 'job TrackUserJob: batchSize must be an integer from 1 to 1000, got 1001'],
      ['a bad function name', { functionName: 'my fn' }, 'job TrackUserJob: functionName "my fn" must be 1–64 of [A-Za-z0-9-_]'],
    ])('rejects %s with a message naming the job and field', (_what, overrides, message) => {
      expect(() => defineJobs([makeDecl(overrides)])).toThrow(new JobDeclarationError(message));
    });

    it('rejects a class declared twice', () => {
      expect(() => defineJobs([makeDecl(), makeDecl({ queue: 'other' })])).toThrow(new JobDeclarationError('job TrackUserJob is declared twice'));
    });

    it('rejects two classes sharing a function name', () => {
      expect(() => defineJobs([makeDecl({ functionName: 'fn' }), makeDecl({ class: 'OtherJob', functionName: 'fn' })])).toThrow(
        new JobDeclarationError('jobs TrackUserJob and OtherJob share the function name fn'),
      );
    });
  });

  describe('defaultFunctionName', () => {
    it('turns :: into - and other characters into _, within 64 characters', () => {
      // Act
      const name = defaultFunctionName(`Admin::Reports::${'X'.repeat(80)}Job`);

      // Assess
      expect(name.startsWith('sidekiq-lambda-Admin-Reports-XXX')).toBe(true);
      expect(name).toHaveLength(64);
      expect(defaultFunctionName('A.B')).toBe('sidekiq-lambda-A_B');
    });
  });

  describe('encodeRoutes / decodeRoutes', () => {
    it('round-trips the declarations through the environment', () => {
      // Prepare
      const jobs = defineJobs([makeDecl({ concurrency: 50, batchSize: 10 }), makeDecl({ class: 'Mail::Deliver', queue: 'mail', timeoutSeconds: 120 })]);
      const routes = [routeOf(jobs[0]!, 'arn:aws:lambda:eu-west-1:123456789012:function:track'), routeOf(jobs[1]!)];

      // Act
      const decoded = decodeRoutes(encodeRoutes(routes));

      // Assess
      expect(decoded).toEqual(routes);
      expect(decoded[1]).toEqual({ class: 'Mail::Deliver', queue: 'mail', function: 'sidekiq-lambda-Mail-Deliver', timeoutSeconds: 120, concurrency: 10, batchSize: 1 });
    });

    it.each([
      ['invalid JSON', '[', /^SIDEKIQ_LAMBDA_JOBS is not valid JSON: /],
      ['a non-array', '{}', /^SIDEKIQ_LAMBDA_JOBS must be a JSON array$/],
      ['a short row', '[["C","q","fn"]]', /^SIDEKIQ_LAMBDA_JOBS\[0\] must be \[class, queue, function, timeoutSeconds, concurrency, batchSize\(, shared\)\]$/],
      ['a null class', '[[null,"q","fn",30,10,1]]', /^SIDEKIQ_LAMBDA_JOBS\[0\]: class must be a non-empty string$/],
      ['a missing queue', '[["C",null,"fn",30,10,1]]', /^SIDEKIQ_LAMBDA_JOBS\[0\]: queue must be a string$/],
      ['an empty function', '[["C","q","",30,10,1]]', /^SIDEKIQ_LAMBDA_JOBS\[0\]: function must be a name or ARN$/],
      ['a bad number', '[["C","q","fn","x",10,1]]', /^job C: timeoutSeconds must be an integer from 1 to 900, got NaN$/],
    ])('rejects %s loudly', (_what, text, message) => {
      expect(() => decodeRoutes(text)).toThrow(message);
      expect(() => decodeRoutes(text)).toThrow(JobDeclarationError);
    });

    it('names the environment variable it reads', () => {
      expect(JOBS_ENV).toBe('SIDEKIQ_LAMBDA_JOBS');
    });
  });
});
