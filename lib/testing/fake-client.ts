/**
 * A producer that keeps what it enqueues in memory: `Sidekiq::Testing.fake!` for handler tests.
 *
 * Tasks:
 * 1. Be a real `Client` — the same validation, payload bytes, jids and timestamps — whose writes
 *    land in `jobs` instead of Redis: it answers the three commands the producer sends (`SADD
 *    queues`, `LPUSH queue:<q>`, `ZADD schedule`) and never opens a connection.
 * 2. Show each enqueued job as the Ruby side would read it: class, queue, args, jid, the time a
 *    scheduled job is due, and the payload text exactly as it would be written.
 */
import type { Redis } from 'ioredis';
import { Client, type ClientOptions } from '../client.js';

/** One job a {@link FakeClient} enqueued, in the order they were pushed. */
export interface EnqueuedJob {
  /** The payload's `class` (for an ActiveJob job, the wrapper class; the job class is in `wrapped`). */
  readonly class: string;
  readonly wrapped?: string;
  readonly queue: string;
  readonly args: unknown[];
  readonly jid: string;
  /** When a scheduled job is due, in epoch seconds; absent for a job enqueued to run now. */
  readonly at?: number;
  /** The payload text exactly as the producer would write it to Redis. */
  readonly payload: string;
}

/** The slice of a pipeline the producer uses, recording instead of sending. */
class RecordingPipeline {
  private readonly ops: (() => void)[] = [];
  constructor(
    private readonly schedule: string,
    private readonly record: (payload: string, at?: number) => void,
  ) {}

  sadd(): this {
    return this;
  }

  lpush(_key: string, ...payloads: string[]): this {
    this.ops.push(() => payloads.forEach((p) => this.record(p)));
    return this;
  }

  zadd(key: string, score: string | number, payload: string): this {
    if (key !== this.schedule) throw new Error(`FakeClient: ZADD to ${key}; the producer only schedules into ${this.schedule}`);
    this.ops.push(() => this.record(payload, Number(score)));
    return this;
  }

  async exec(): Promise<[null, number][]> {
    this.ops.forEach((op) => op());
    return this.ops.map(() => [null, 1]);
  }
}

/**
 * A `Client` that enqueues into memory (`jobs`) instead of Redis — pass it to `runJob` as
 * `client`, and `job.client` in the handler writes here.
 *
 * @example
 * const client = fakeClient();
 * await runJob(handler, { class: 'SudokuSolver', args: ['p1', puzzle] }, { client });
 * expect(client.jobs).toMatchObject([{ class: 'SolvedPuzzleJob', queue: 'solved', args: ['p1', solution] }]);
 */
export class FakeClient extends Client {
  /** Everything enqueued so far, oldest first. */
  readonly jobs: EnqueuedJob[];

  constructor(opts: Omit<ClientOptions, 'redis'> = {}) {
    const jobs: EnqueuedJob[] = [];
    let schedule = '';
    const record = (payload: string, at?: number): void => {
      const p = JSON.parse(payload) as { class: string; wrapped?: string; queue: string; args: unknown[]; jid: string };
      jobs.push({ class: p.class, ...(p.wrapped !== undefined && { wrapped: p.wrapped }), queue: p.queue, args: p.args, jid: p.jid, ...(at !== undefined && { at }), payload });
    };
    const redis = {
      status: 'ready',
      options: { host: 'fake-client', port: 0 },
      pipeline: () => new RecordingPipeline(schedule, record),
    };
    super({ ...opts, redis: redis as unknown as Redis });
    schedule = this.keys.schedule;
    this.jobs = jobs;
  }

  /** Forgets every job enqueued so far (`Sidekiq::Worker.clear_all`). */
  clear(): void {
    this.jobs.length = 0;
  }
}

/**
 * A client for `runJob` that keeps enqueued jobs in memory: see {@link FakeClient}.
 *
 * @example const client = fakeClient(); await runJob(handler, spec, { client }); client.jobs
 */
export function fakeClient(opts: Omit<ClientOptions, 'redis'> = {}): FakeClient {
  return new FakeClient(opts);
}
